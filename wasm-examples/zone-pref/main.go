// Command zone-pref is the zone-preference score policy as a WASM guest:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o zone-pref.wasm ./wasm-examples/zone-pref
package main

import (
	"github.com/skiff-sh/skiff/sdk/guest"
	"github.com/skiff-sh/skiff/wasm-examples/zone-pref/zonepref"
)

func init() { guest.Register(zonepref.Descriptor, zonepref.New) }

func main() {}
