// Command skiff is the command-line client of a skiff cluster.
package main

import (
	"os"

	"github.com/skiff-sh/skiff/cmd/skiff/app"
)

func main() { os.Exit(app.Main()) }
