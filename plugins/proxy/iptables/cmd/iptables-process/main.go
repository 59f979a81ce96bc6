// Command iptables-process is the iptables proxy planner as a go-plugin
// process plugin:
//
//	go build -o iptables-process ./plugins/proxy/iptables/cmd/iptables-process
package main

import (
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/sdk/process"
)

func main() { process.Serve(iptables.Descriptor, iptables.New) }
