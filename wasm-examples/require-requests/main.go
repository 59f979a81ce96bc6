// Command require-requests is the admission policy as a WASM guest:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o require-requests.wasm ./wasm-examples/require-requests
package main

import (
	"github.com/skiff-sh/skiff/sdk/guest"
	"github.com/skiff-sh/skiff/wasm-examples/require-requests/requirerequests"
)

func init() { guest.Register(requirerequests.Descriptor, requirerequests.New) }

func main() {}
