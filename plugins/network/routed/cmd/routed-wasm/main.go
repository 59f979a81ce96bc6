// Command routed-wasm is the routed network backend as a WASM guest:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o routed.wasm ./plugins/network/routed/cmd/routed-wasm
package main

import (
	"github.com/skiff-sh/skiff/plugins/network/routed"
	"github.com/skiff-sh/skiff/sdk/guest"
)

func init() { guest.Register(routed.Descriptor, routed.Factory) }

func main() {}
