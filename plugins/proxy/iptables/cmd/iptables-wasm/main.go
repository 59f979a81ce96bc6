// Command iptables-wasm is the iptables proxy planner as a WASM guest:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o iptables.wasm ./plugins/proxy/iptables/cmd/iptables-wasm
package main

import (
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/sdk/guest"
)

func init() { guest.Register(iptables.Descriptor, iptables.New) }

func main() {}
