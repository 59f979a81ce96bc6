package iptables_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/plugin/plugintest"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/sdk/proxy"
)

func load(t testing.TB) *plugintest.Loaded {
	return plugintest.Load(t, plugintest.Plugin{
		Desc: iptables.Descriptor, Factory: iptables.New,
		Process: "./plugins/proxy/iptables/cmd/iptables-process", Wasm: "./plugins/proxy/iptables/cmd/iptables-wasm",
		// The first WASM call at 10,000 services grows a fresh instance's memory.
		Timeout: time.Minute,
	})
}

// services returns n services with two ports each, every third without
// ready endpoints, some with NodePorts and ClientIP affinity.
func services(n int) []proxy.Service {
	out := make([]proxy.Service, n)
	for i := range out {
		s := proxy.Service{Namespace: fmt.Sprintf("ns-%d", i%17), Name: fmt.Sprintf("svc-%05d", i),
			ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)}
		for p, name := range []string{"http", "metrics"} {
			port := proxy.Port{Name: name, Protocol: []string{"TCP", "UDP"}[p], Port: int32(80 + p)}
			if i%3 != 0 {
				for e := range 1 + i%4 {
					port.Endpoints = append(port.Endpoints, proxy.Endpoint{IP: fmt.Sprintf("10.244.%d.%d", e, i%250+2), Port: int32(8080 + p)})
				}
			}
			if i%5 == 0 && p == 0 {
				port.NodePort = int32(30000 + i%2768)
			}
			s.Ports = append(s.Ports, port)
		}
		if i%7 == 0 {
			s.SessionAffinity, s.AffinitySeconds = "ClientIP", 600
		}
		out[i] = s
	}
	return out
}

func input(svcs []proxy.Service) *proxy.Input {
	return &proxy.Input{NodeName: "n1", NodeIPs: []string{"192.168.1.10", "10.0.0.10"}, ClusterCIDR: "10.244.0.0/16",
		MasqueradeBit: 12, Services: svcs}
}

// The same planner source gives the same rulesets compiled in, as a
// go-plugin process and as a WASM module (the mains under cmd/).
func TestSameRulesetsThroughEveryLoader(t *testing.T) {
	l := load(t)
	rulesets := plugintest.SameRulesets(t, l, map[string]*proxy.Input{
		"none":     input(nil),
		"one":      input(services(1)),
		"hundreds": input(services(300)),
	})
	if rs := rulesets["hundreds"]; len(rs.Chains) < 300 || rs.Prefix != iptables.Prefix || len(rs.Jumps) == 0 {
		t.Fatalf("the ruleset for 300 services has %d chains, prefix %q, %d jumps", len(rs.Chains), rs.Prefix, len(rs.Jumps))
	}
	bad := input(services(3))
	bad.Services[2].ClusterIP = "None"
	plugintest.SameErrors(t, l, `service ns-2/svc-00002: clusterIP: "None" is not an IPv4 address`,
		func(p plugintest.PluginCaller) error { _, err := p.Rules(context.Background(), bad); return err })
}

// BenchmarkRules10kServices plans 10,000 services (20,000 ports) through
// each loader; SKIFF_BENCH=1 enables it, since it builds both forms.
func BenchmarkRules10kServices(b *testing.B) {
	if os.Getenv("SKIFF_BENCH") == "" {
		b.Skip("set SKIFF_BENCH=1: builds the process and WASM forms")
	}
	l := load(b)
	in := input(services(10000))
	for _, p := range l.All() {
		b.Run(p.Name(), func(b *testing.B) {
			if _, err := p.Rules(context.Background(), in); err != nil { // warm: instance, memory
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := p.Rules(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
