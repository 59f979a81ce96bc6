// Command process is the zone-preference score policy as a go-plugin
// process plugin:
//
//	go build -o zone-pref-process ./wasm-examples/zone-pref/process
package main

import (
	"github.com/skiff-sh/skiff/sdk/process"
	"github.com/skiff-sh/skiff/wasm-examples/zone-pref/zonepref"
)

func main() { process.Serve(zonepref.Descriptor, zonepref.New) }
