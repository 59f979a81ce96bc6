package overlay_test

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/core/plugin/plugintest"
	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/sdk/network"
)

// The same planner source gives the same plans compiled in, as a go-plugin
// process and as a WASM module (the mains under cmd/).
func TestSamePlansThroughEveryLoader(t *testing.T) {
	l := plugintest.Load(t, plugintest.Plugin{
		Desc: overlay.Descriptor, Factory: overlay.Factory,
		Process: "./plugins/network/overlay/cmd/overlay-process", Wasm: "./plugins/network/overlay/cmd/overlay-wasm",
		Args: map[string]any{"vni": 42, "port": 4789, "mtu": 1400, "bridge": "pods0"},
	})
	self := network.NodeInfo{Name: "n1", IP: "192.168.50.11", PodCIDR: "10.244.1.0/24"}
	plans := plugintest.SamePlans(t, l, map[string]network.Input{
		"alone": {Self: self, ClusterCIDR: "10.244.0.0/16", UnderlayMTU: 1500},
		"peers": {Self: self, ClusterCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/12", UnderlayMTU: 9000, Peers: []network.NodeInfo{
			{Name: "n3", IP: "192.168.50.13", PodCIDR: "10.244.3.0/24", VTEPMAC: "0e:73:aa:bb:cc:dd", Backend: "overlay"},
			{Name: "n2", IP: "192.168.50.12", PodCIDR: "10.244.2.0/24"},
			{Name: "n4-joining", IP: "192.168.50.14"},                         // no subnet yet: skipped
			{Name: "n5-clash", IP: "192.168.50.15", PodCIDR: "10.244.2.0/25"}, // overlaps n2: skipped
			{Name: "n6-outside", IP: "192.168.50.16", PodCIDR: "10.99.0.0/24"},
			{Name: "n7-bad-mac", IP: "192.168.50.17", PodCIDR: "10.244.7.0/24", VTEPMAC: "zz"}, // derived MAC used
		}},
	})
	alone := plans["alone"]
	if len(alone.Devices) != 2 || alone.Devices[1].VNI != 42 || alone.Devices[1].Port != 4789 || alone.Devices[1].MTU != 1400 || len(alone.CNIConfig) == 0 {
		t.Fatalf("the plan does not reflect the args: %+v", alone.Devices)
	}
	if peers := plans["peers"]; len(peers.Routes) != 3 || len(peers.FDB) != 3 || peers.FDB[1].MAC != "0e:73:aa:bb:cc:dd" {
		t.Fatalf("want entries for n2, n3 (its published MAC) and n7 only, got routes %+v fdb %+v", peers.Routes, peers.FDB)
	}
	// A planner's error reaches the caller through every loader.
	tooBig := network.Input{Self: self, ClusterCIDR: "10.244.0.0/16", UnderlayMTU: 1420}
	plugintest.SameErrors(t, l, "mtu 1400 does not leave the 50 bytes of VXLAN overhead on a 1420-byte underlay",
		func(p plugintest.PluginCaller) error { _, err := p.Plan(context.Background(), tooBig); return err })
}
