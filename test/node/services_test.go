package node_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/dns"
	"github.com/skiff-sh/skiff/plugins/runtime/sim"
)

// dnsOnly runs the cluster DNS without the proxy (which needs root). The
// server binds the gateway address the agent asks for on a free port:
// IP_FREEBIND lets it bind an address the host does not have.
func dnsOnly() *node.ServicesConfig {
	return &node.ServicesConfig{DNSServiceIP: "10.96.0.10", DNS: func(listen string, svcs, eps *reconcile.Informer) (node.DNSServer, error) {
		host, _, _ := net.SplitHostPort(listen)
		return dns.NewServer(dns.Config{Listen: host + ":0", FreeBind: true, Upstreams: []string{"127.0.0.1:53"}}, dns.InformerSource(svcs, eps))
	}}
}

func runAgent(t *testing.T, cfg node.Config) *node.Agent {
	t.Helper()
	a, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", cfg.NodeName, err)
		}
	})
	return a
}

func simConfig(t *testing.T, c *client.Client, name string) node.Config {
	return node.Config{NodeName: name, Client: c, Runtime: sim.New(), NewNetwork: sim.NewNetwork, DataDir: t.TempDir(),
		NodeIPs: []string{"192.0.2.10"}, Prober: node.AlwaysSucceed{}, ResyncInterval: 200 * time.Millisecond,
		LeaseInterval: 200 * time.Millisecond, Services: dnsOnly()}
}

// dnsSubsets waits until the skiff-dns Endpoints satisfy cond.
func dnsSubsets(t *testing.T, c *client.Client, what string, cond func(map[string]api.EndpointSubset) bool) map[string]api.EndpointSubset {
	t.Helper()
	var last map[string]api.EndpointSubset
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ep, err := client.Get[*api.Endpoints](context.Background(), c, node.SystemNamespace, node.DNSServiceName)
		if err != nil {
			continue
		}
		last = map[string]api.EndpointSubset{}
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				if a.NodeName != nil {
					last[*a.NodeName] = s
				}
			}
		}
		if cond(last) {
			return last
		}
	}
	t.Fatalf("skiff-dns Endpoints: timed out waiting for %s; last %+v", what, last)
	return nil
}

func TestClusterDNSRegistration(t *testing.T) {
	srv := etcd.NewServer(t)
	c := srv.Client
	ctx := context.Background()
	cfg1 := simConfig(t, c, "n1")
	a1 := runAgent(t, cfg1)

	subsets := dnsSubsets(t, c, "n1's server", func(m map[string]api.EndpointSubset) bool { return len(m) == 1 })
	s := subsets["n1"]
	_, subnet, _ := net.ParseCIDR(a1.PodCIDR())
	gw := subnet.IP.To4()
	gw[3]++
	if s.Addresses[0].IP != gw.String() || len(s.Ports) != 2 || s.Ports[0].Port == 0 || s.Ports[0].Port != s.Ports[1].Port {
		t.Fatalf("n1's DNS endpoint %+v: want the bridge gateway %s with the server's port for dns and dns-tcp", s, gw)
	}
	svc, err := client.Get[*api.Service](ctx, c, node.SystemNamespace, node.DNSServiceName)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.96.0.10" || len(svc.Spec.Selector) != 0 || len(svc.Spec.Ports) != 2 {
		t.Fatalf("skiff-dns Service: %+v", svc.Spec)
	}

	t.Run("pods resolve through the cluster DNS", func(t *testing.T) {
		p, err := client.Create(ctx, c, newPod("dns-client", "n1", api.Container{Name: "app", Image: "busybox"}))
		if err != nil {
			t.Fatal(err)
		}
		p.Namespace = "default"
		waitPod(t, c, "dns-client", "Running", func(p *api.Pod) bool { return p.Status.Phase == "Running" })
		got, err := os.ReadFile(filepath.Join(cfg1.DataDir, "pods", p.UID, "resolv.conf"))
		if err != nil {
			t.Fatal(err)
		}
		if want := dns.ResolvConf("10.96.0.10", "default", "cluster.local"); string(got) != want {
			t.Fatalf("pod resolv.conf:\n%s\nwant:\n%s", got, want)
		}
	})

	parent := t // n2 must outlive its subtest
	t.Run("a second node adds its own address", func(t *testing.T) {
		runAgent(parent, simConfig(parent, c, "n2"))
		dnsSubsets(t, c, "n1 and n2", func(m map[string]api.EndpointSubset) bool { return len(m) == 2 })
	})

	t.Run("deleted Endpoints come back", func(t *testing.T) {
		if err := client.Delete[*api.Endpoints](ctx, c, node.SystemNamespace, node.DNSServiceName, client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		dnsSubsets(t, c, "re-registration", func(m map[string]api.EndpointSubset) bool { return len(m) >= 1 })
	})

	t.Run("teardown removes only its node", func(t *testing.T) {
		dnsSubsets(t, c, "n1 and n2", func(m map[string]api.EndpointSubset) bool { return len(m) == 2 })
		// A node whose agent is gone: nothing re-registers it. Its subset is
		// added beside the live agents' ones, which keep rewriting theirs, so
		// retry on conflict.
		ghost := "n3-gone"
		ghostSubset := api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: "10.244.9.1", NodeName: &ghost}},
			Ports: []api.EndpointPort{{Name: "dns", Protocol: "UDP", Port: 53}, {Name: "dns-tcp", Protocol: "TCP", Port: 53}}}
		for attempt := 0; ; attempt++ {
			ep, err := client.Get[*api.Endpoints](ctx, c, node.SystemNamespace, node.DNSServiceName)
			if err == nil {
				ep.Subsets = append(ep.Subsets, ghostSubset)
				_, err = client.Update(ctx, c, ep)
			}
			if err == nil {
				break
			}
			if !api.IsConflict(err) || attempt == 20 {
				t.Fatal(err)
			}
		}
		dnsSubsets(t, c, "n1, n2 and the ghost", func(m map[string]api.EndpointSubset) bool { return len(m) == 3 })
		if err := node.TeardownServices(ctx, c, ghost, dnsOnly()); err != nil {
			t.Fatal(err)
		}
		m := dnsSubsets(t, c, "the ghost gone", func(m map[string]api.EndpointSubset) bool { _, ok := m[ghost]; return !ok })
		if len(m) != 2 {
			t.Fatalf("teardown of %s removed other nodes' addresses: %v", ghost, m)
		}
		if err := node.TeardownServices(ctx, c, ghost, dnsOnly()); err != nil {
			t.Fatalf("a second teardown must be a no-op: %v", err)
		}
	})

	t.Run("a live agent re-adds itself after a teardown", func(t *testing.T) {
		if err := node.TeardownServices(ctx, c, "n1", dnsOnly()); err != nil {
			t.Fatal(err)
		}
		dnsSubsets(t, c, "n1 back", func(m map[string]api.EndpointSubset) bool { _, ok := m["n1"]; return ok && len(m) == 2 })
	})
}
