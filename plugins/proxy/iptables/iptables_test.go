package iptables

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk/proxy"
)

func input(svcs ...proxy.Service) *proxy.Input {
	return &proxy.Input{NodeName: "n1", NodeIPs: []string{"192.168.1.10"}, ClusterCIDR: "10.244.0.0/16", Services: svcs}
}

func web(eps ...proxy.Endpoint) proxy.Service {
	return proxy.Service{Namespace: "default", Name: "web", ClusterIP: "10.96.0.20",
		Ports: []proxy.Port{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 30080, Endpoints: eps}}}
}

func chain(t *testing.T, rs *proxy.Ruleset, table, name string) []string {
	t.Helper()
	for _, c := range rs.Chains {
		if c.Table == table && c.Name == name {
			return c.Rules
		}
	}
	t.Fatalf("no chain %s %s in ruleset", table, name)
	return nil
}

func TestPlanBalancesOverReadyEndpoints(t *testing.T) {
	rs, err := Plan(input(web(proxy.Endpoint{IP: "10.244.1.5", Port: 8080}, proxy.Endpoint{IP: "10.244.2.7", Port: 8080}, proxy.Endpoint{IP: "10.244.3.9", Port: 8080})))
	if err != nil {
		t.Fatal(err)
	}
	svc := chainName(svcChainPrefix, "default/web:http/tcp")
	services := chain(t, rs, "nat", ChainServices)
	if !slices.Equal(services, []string{"-d 0.0.0.20/0.0.0.63 -j SKIFF-PROXY-CLUSTERIPS-20", "-d 192.168.1.10/32 -j SKIFF-PROXY-NODEPORTS"}) {
		t.Fatalf("SKIFF-PROXY-SERVICES:\n%s", strings.Join(services, "\n"))
	}
	wantSvc := `-d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j ` + svc
	if shard := chain(t, rs, "nat", "SKIFF-PROXY-CLUSTERIPS-20"); !slices.Equal(shard, []string{wantSvc}) {
		t.Fatalf("cluster IP shard 20:\n%s", strings.Join(shard, "\n"))
	}
	rules := chain(t, rs, "nat", svc)
	want := []string{
		"! -s 10.244.0.0/16 -j SKIFF-PROXY-MARK-MASQ",
		"-m statistic --mode random --probability 0.33333333349 -j " + chainName(sepChainPrefix, "default/web:http/tcp/10.244.1.5:8080"),
		"-m statistic --mode random --probability 0.50000000000 -j " + chainName(sepChainPrefix, "default/web:http/tcp/10.244.2.7:8080"),
		"-j " + chainName(sepChainPrefix, "default/web:http/tcp/10.244.3.9:8080"),
	}
	if !slices.Equal(rules, want) {
		t.Fatalf("SVC chain:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(want, "\n"))
	}
	sep := chain(t, rs, "nat", chainName(sepChainPrefix, "default/web:http/tcp/10.244.2.7:8080"))
	if !slices.Equal(sep, []string{"-s 10.244.2.7/32 -j SKIFF-PROXY-MARK-MASQ", "-p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080"}) {
		t.Fatalf("SEP chain: %q", sep)
	}
	np := chain(t, rs, "nat", ChainNodePorts)
	if !slices.Equal(np, []string{"-p tcp -m tcp --dport 30080 -j SKIFF-PROXY-MARK-MASQ", "-p tcp -m tcp --dport 30080 -j " + svc}) {
		t.Fatalf("SKIFF-PROXY-NODEPORTS: %q", np)
	}
	if r := chain(t, rs, "filter", ChainServices); len(r) != 0 {
		t.Fatalf("a service with endpoints must not be rejected: %q", r)
	}
}

func TestPlanSpreadsClusterIPsOverShards(t *testing.T) {
	ep := []proxy.Endpoint{{IP: "10.244.1.5", Port: 8080}}
	svc := func(name, ip string) proxy.Service {
		return proxy.Service{Namespace: "default", Name: name, ClusterIP: ip, Ports: []proxy.Port{{Name: "http", Protocol: "TCP", Port: 80, Endpoints: ep}}}
	}
	// 10.96.0.5 and 10.96.1.69 share the low six bits (5); 10.96.0.6 does not.
	before, err := Plan(input(svc("a", "10.96.0.5"), svc("c", "10.96.0.6")))
	if err != nil {
		t.Fatal(err)
	}
	after, err := Plan(input(svc("a", "10.96.0.5"), svc("b", "10.96.1.69"), svc("c", "10.96.0.6")))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-d 0.0.0.6/0.0.0.63 -j SKIFF-PROXY-CLUSTERIPS-06", "-d 0.0.0.5/0.0.0.63 -j SKIFF-PROXY-CLUSTERIPS-05", "-d 192.168.1.10/32 -j SKIFF-PROXY-NODEPORTS"}
	for _, rs := range []*proxy.Ruleset{before, after} {
		if got := chain(t, rs, "nat", ChainServices); !slices.Equal(got, want) {
			t.Fatalf("SKIFF-PROXY-SERVICES:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The new service changes its shard only: the other shard and the
	// dispatch chain stay as they were, so a sync rewrites one short chain.
	if !slices.Equal(chain(t, before, "nat", "SKIFF-PROXY-CLUSTERIPS-06"), chain(t, after, "nat", "SKIFF-PROXY-CLUSTERIPS-06")) {
		t.Fatal("shard 06 changed though its services did not")
	}
	shard := chain(t, after, "nat", "SKIFF-PROXY-CLUSTERIPS-05")
	if len(shard) != 2 || !strings.HasPrefix(shard[0], "-d 10.96.") || !strings.Contains(strings.Join(shard, "\n"), "-d 10.96.1.69/32 ") {
		t.Fatalf("shard 05 must hold both services with low bits 5:\n%s", strings.Join(shard, "\n"))
	}
	for _, c := range after.Chains {
		if strings.HasPrefix(c.Name, chainClusterIPs) && c.Name != "SKIFF-PROXY-CLUSTERIPS-05" && c.Name != "SKIFF-PROXY-CLUSTERIPS-06" {
			t.Fatalf("empty shard %s planned", c.Name)
		}
	}
}

func TestPlanRejectsServiceWithoutEndpoints(t *testing.T) {
	rs, err := Plan(input(web()))
	if err != nil {
		t.Fatal(err)
	}
	rejects := chain(t, rs, "filter", ChainServices)
	want := []string{
		`-d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`,
		`-d 192.168.1.10/32 -p tcp -m comment --comment "default/web:http has no endpoints" -m tcp --dport 30080 -j REJECT --reject-with icmp-port-unreachable`,
	}
	if !slices.Equal(rejects, want) {
		t.Fatalf("filter SKIFF-PROXY-SERVICES:\n%s", strings.Join(rejects, "\n"))
	}
	for _, c := range rs.Chains {
		if strings.HasPrefix(c.Name, svcChainPrefix) || strings.HasPrefix(c.Name, sepChainPrefix) {
			t.Fatalf("no endpoints, yet chain %s was planned", c.Name)
		}
	}
	if len(chain(t, rs, "nat", ChainNodePorts)) != 0 {
		t.Fatal("a nodeport without endpoints must not be DNATed")
	}
}

func TestPlanSessionAffinity(t *testing.T) {
	s := web(proxy.Endpoint{IP: "10.244.1.5", Port: 8080})
	s.SessionAffinity, s.AffinitySeconds = "ClientIP", 600
	rs, err := Plan(input(s))
	if err != nil {
		t.Fatal(err)
	}
	sep := chainName(sepChainPrefix, "default/web:http/tcp/10.244.1.5:8080")
	rules := chain(t, rs, "nat", chainName(svcChainPrefix, "default/web:http/tcp"))
	if rules[1] != "-m recent --rcheck --seconds 600 --reap --name "+sep+" --mask 255.255.255.255 --rsource -j "+sep {
		t.Fatalf("affinity check rule: %q", rules[1])
	}
	if got := chain(t, rs, "nat", sep)[1]; got != "-p tcp -m recent --set --name "+sep+" --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.5:8080" {
		t.Fatalf("affinity set rule: %q", got)
	}
}

func TestPlanIsDeterministicAndChainNamesFit(t *testing.T) {
	in := input(web(proxy.Endpoint{IP: "10.244.1.5", Port: 8080}, proxy.Endpoint{IP: "10.244.1.5", Port: 8080}))
	a, _ := Plan(in)
	b, _ := (&Planner{}).Rules(context.Background(), in)
	if len(a.Chains) != len(b.Chains) {
		t.Fatal("two plans of one input differ")
	}
	names := map[string]bool{}
	for i, c := range a.Chains {
		if !slices.Equal(c.Rules, b.Chains[i].Rules) || c.Name != b.Chains[i].Name {
			t.Fatalf("two plans of one input differ at chain %s", c.Name)
		}
		if len(c.Name) > maxChainNameLen {
			t.Fatalf("chain name %s longer than %d", c.Name, maxChainNameLen)
		}
		if names[c.Table+c.Name] {
			t.Fatalf("chain %s planned twice (a repeated endpoint must be merged)", c.Name)
		}
		names[c.Table+c.Name] = true
	}
}

func TestPlanRefusesUnsafeInput(t *testing.T) {
	for name, mutate := range map[string]func(*proxy.Input){
		"endpoint with rule text": func(in *proxy.Input) { in.Services[0].Ports[0].Endpoints[0].IP = "10.0.0.1 -j ACCEPT" },
		"quote in port name":      func(in *proxy.Input) { in.Services[0].Ports[0].Name = `a" -j ACCEPT` },
		"bad cluster IP":          func(in *proxy.Input) { in.Services[0].ClusterIP = "None" },
		"bad protocol":            func(in *proxy.Input) { in.Services[0].Ports[0].Protocol = "ICMP" },
		"bad cluster CIDR":        func(in *proxy.Input) { in.ClusterCIDR = "10.244.0.0" },
		"bad masquerade bit":      func(in *proxy.Input) { in.MasqueradeBit = 32 },
	} {
		in := input(web(proxy.Endpoint{IP: "10.244.1.5", Port: 8080}))
		mutate(in)
		if _, err := Plan(in); err == nil {
			t.Errorf("%s: planned without error", name)
		}
	}
}

func TestProbabilityMatchesIptablesSave(t *testing.T) {
	// Values as iptables-save v1.8.9 prints them after a restore.
	for n, want := range map[int]string{2: "0.50000000000", 3: "0.33333333349", 4: "0.25000000000", 7: "0.14285714272"} {
		if got := probability(n); got != want {
			t.Errorf("probability(%d) = %s, want %s", n, got, want)
		}
	}
}
