// Command overlay-wasm is the overlay network backend as a WASM guest:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o overlay.wasm ./plugins/network/overlay/cmd/overlay-wasm
package main

import (
	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/sdk/guest"
)

func init() { guest.Register(overlay.Descriptor, overlay.Factory) }

func main() {}
