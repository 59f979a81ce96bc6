// Command overlay-process is the overlay network backend as a go-plugin
// process plugin:
//
//	go build -o overlay-process ./plugins/network/overlay/cmd/overlay-process
package main

import (
	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/sdk/process"
)

func main() { process.Serve(overlay.Descriptor, overlay.Factory) }
