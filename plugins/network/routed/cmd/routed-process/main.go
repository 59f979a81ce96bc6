// Command routed-process is the routed network backend as a go-plugin
// process plugin:
//
//	go build -o routed-process ./plugins/network/routed/cmd/routed-process
package main

import (
	"github.com/skiff-sh/skiff/plugins/network/routed"
	"github.com/skiff-sh/skiff/sdk/process"
)

func main() { process.Serve(routed.Descriptor, routed.Factory) }
