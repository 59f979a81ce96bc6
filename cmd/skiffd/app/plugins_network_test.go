package app

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/sdk/proxy"
)

// loadNetworkConfig loads a config file with the given network section.
func loadNetworkConfig(t *testing.T, networkYAML string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "skiffd.yaml")
	if err := os.WriteFile(path, []byte("data-dir: "+t.TempDir()+"\n"+networkYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path, newServerCommand().Flags())
}

func TestNetworkSelectionIsValidatedAtStart(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown backend":  {"network: {backend: vxlan}", `network: plugin network "vxlan": name: no builtin network plugin named "vxlan" (builtins: [bridge overlay routed])`},
		"vni out of range": {"network: {backend: overlay, args: {vni: 16777216}}", "args.vni: must be between 1 and 16777215, got 16777216"},
		"misspelt arg":     {"network: {backend: overlay, args: {vin: 3}}", `unknown field "vin"`},
		"both loaders":     {"network: {backend: {process: /bin/true, wasm: /x.wasm}}", "network.backend: set exactly one of process: PATH and wasm: PATH"},
		"unknown key":      {"network: {backend: {path: /x}}", "network.backend.path: unknown key"},
		"missing module":   {"network: {backend: {wasm: /nonexistent/overlay.wasm}}", "wasm: stat /nonexistent/overlay.wasm"},
		"unknown proxy":    {"network: {proxy: ipvs}", `no builtin proxy plugin named "ipvs" (builtins: [iptables])`},
		"args of no-args":  {"network: {proxy: iptables, proxy-args: {x: 1}}", "it takes no arguments"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadNetworkConfig(t, tc.yaml+"\n")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
	cfg, err := loadNetworkConfig(t, "")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := cfg.Network.specs()
	if err != nil || len(specs) != 2 || specs[0].Name != "bridge" || specs[1].Name != "iptables" {
		t.Fatalf("defaults: %+v, %v", specs, err)
	}
}

// The agent reaches the configured backend and proxy through NodePlugins;
// a backend given as a WASM module plans as its builtin does.
func TestNodePluginsPlanWithTheSelectedBackend(t *testing.T) {
	in := network.Input{Self: network.NodeInfo{Name: "a", IP: "10.0.0.1", PodCIDR: "10.244.0.0/24"}, ClusterCIDR: "10.244.0.0/16",
		Peers: []network.NodeInfo{{Name: "b", IP: "10.0.0.2", PodCIDR: "10.244.1.0/24"}}}
	var plans []network.Plan
	for _, yaml := range []string{
		"network: {backend: routed, args: {mtu: 1400}}",
		"network: {backend: {wasm: " + artifact("routed.wasm") + "}, args: {mtu: 1400}}",
	} {
		cfg, err := loadNetworkConfig(t, yaml+"\n")
		if err != nil {
			t.Fatal(err)
		}
		np, err := StartNodePlugins(cfg.Network, filepath.Join(artifacts, "wasm-cache"), prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer np.Close()
		plan, err := np.Plan(context.Background(), in)
		if err != nil {
			t.Fatalf("%s: %v", yaml, err)
		}
		if np.Backend() != "routed" {
			t.Fatalf("%s: backend %q, want routed (a module is named after its file)", yaml, np.Backend())
		}
		plans = append(plans, plan)
		rs, err := np.Proxy().Rules(context.Background(), &proxy.Input{NodeName: "a", ClusterCIDR: "10.244.0.0/16"})
		if err != nil || rs.Prefix != iptables.Prefix {
			t.Fatalf("%s: proxy: %+v %v", yaml, rs, err)
		}
	}
	routed, wasm := plans[0], plans[1]
	if len(routed.Routes) != 1 || routed.Routes[0].Via != "10.0.0.2" || routed.Devices[0].MTU != 1400 {
		t.Fatalf("routed plan: %+v", routed)
	}
	if !reflect.DeepEqual(wasm, routed) {
		t.Fatalf("the wasm backend plans differently:\n%+v\n%+v", wasm, routed)
	}
}
