// Command app-limit is the per-node app limit filter as a WASM guest:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o app-limit.wasm ./wasm-examples/app-limit
package main

import (
	"github.com/skiff-sh/skiff/sdk/guest"
	"github.com/skiff-sh/skiff/wasm-examples/app-limit/applimit"
)

func init() { guest.Register(applimit.Descriptor, applimit.New) }

func main() {}
