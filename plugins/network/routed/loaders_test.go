package routed_test

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/core/plugin/plugintest"
	"github.com/skiff-sh/skiff/plugins/network/routed"
	"github.com/skiff-sh/skiff/sdk/network"
)

// The same planner source gives the same plans compiled in, as a go-plugin
// process and as a WASM module (the mains under cmd/).
func TestSamePlansThroughEveryLoader(t *testing.T) {
	l := plugintest.Load(t, plugintest.Plugin{
		Desc: routed.Descriptor, Factory: routed.Factory,
		Process: "./plugins/network/routed/cmd/routed-process", Wasm: "./plugins/network/routed/cmd/routed-wasm",
		Args: map[string]any{"mtu": 1480, "network": "cluster"},
	})
	self := network.NodeInfo{Name: "a", IP: "10.0.0.1", PodCIDR: "10.244.0.0/24"}
	plans := plugintest.SamePlans(t, l, map[string]network.Input{
		"alone": {Self: self, ClusterCIDR: "10.244.0.0/16"},
		"peers": {Self: self, ClusterCIDR: "10.244.0.0/16", UnderlayMTU: 1500, Peers: []network.NodeInfo{
			{Name: "c", IP: "10.0.0.3", PodCIDR: "10.244.2.0/24"},
			{Name: "b", IP: "10.0.0.2", PodCIDR: "10.244.1.0/24"},
			{Name: "d", IP: "not-an-ip", PodCIDR: "10.244.3.0/24"}, // skipped
		}},
	})
	if r := plans["peers"].Routes; len(r) != 2 || r[0].Dst != "10.244.1.0/24" || r[0].Via != "10.0.0.2" || r[1].Via != "10.0.0.3" {
		t.Fatalf("want routes to b then c via their node IPs, got %+v", r)
	}
	plugintest.SameErrors(t, l, `cluster CIDR "fd00::/64": must be an IPv4 CIDR`,
		func(p plugintest.PluginCaller) error {
			_, err := p.Plan(context.Background(), network.Input{Self: self, ClusterCIDR: "fd00::/64"})
			return err
		})
}
