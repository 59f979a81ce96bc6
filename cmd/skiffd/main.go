// Command skiffd runs skiff's control plane and node agent.
package main

import (
	"os"

	"github.com/skiff-sh/skiff/cmd/skiffd/app"
)

func main() { os.Exit(app.Main()) }
