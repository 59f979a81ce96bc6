package nodelifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/test/scenario"
)

// dnsSubsetOf is a node's DNS server as its agent writes it.
func dnsSubsetOf(nodeName, ip string) api.EndpointSubset {
	return api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: ip, NodeName: api.Ptr(nodeName)}},
		Ports: []api.EndpointPort{{Name: "dns", Protocol: "UDP", Port: 53}, {Name: "dns-tcp", Protocol: "TCP", Port: 53}}}
}

// dnsAddresses lists the skiff-dns Endpoints' addresses as "node=ip"
// ("-=ip" for an address without a node), sorted.
func (c *cluster) dnsAddresses() ([]string, error) {
	ep, err := client.Get[*api.Endpoints](context.Background(), c.cli, node.SystemNamespace, node.DNSServiceName)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			name := "-"
			if a.NodeName != nil {
				name = *a.NodeName
			}
			out = append(out, name+"="+a.IP)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (c *cluster) wantDNSAddresses(want ...string) {
	c.t.Helper()
	c.eventually(func() error {
		got, err := c.dnsAddresses()
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("skiff-dns addresses %v, want %v", got, want)
		}
		return nil
	})
}

func startNodeLifecycle(t *testing.T, args string) *cluster {
	srv := etcd.NewServer(t)
	c := &cluster{t: t, cli: srv.Client, clock: reconcile.NewFakeClock(time.Now())}
	nl, err := Factory([]byte(args))
	if err != nil {
		t.Fatal(err)
	}
	runNodeLifecycle(t, c, nl)
	return c
}

// A node deleted while the controller was not running (no delete event
// will come) loses its address when the controller starts; a node deleted
// while it runs loses it at once. Live nodes' addresses and addresses of
// no node stay.
func TestDNSAddressesOfDeletedNodesAreRemoved(t *testing.T) {
	srv := etcd.NewServer(t)
	c := &cluster{t: t, cli: srv.Client, clock: reconcile.NewFakeClock(time.Now())}
	ctx := context.Background()
	c.registerNode("alive")
	c.registerNode("leaving")
	ep := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: api.ObjectMeta{Namespace: node.SystemNamespace, Name: node.DNSServiceName},
		Subsets: []api.EndpointSubset{dnsSubsetOf("alive", "10.1.0.1"), dnsSubsetOf("ghost", "10.1.1.1"), dnsSubsetOf("leaving", "10.1.2.1"),
			{Addresses: []api.EndpointAddress{{IP: "192.0.2.53"}}, Ports: []api.EndpointPort{{Name: "dns", Protocol: "UDP", Port: 53}}}}}
	if _, err := client.Create(ctx, c.cli, ep); err != nil {
		t.Fatal(err)
	}

	nl, _ := Factory(nil)
	runNodeLifecycle(t, c, nl)
	c.wantDNSAddresses("-=192.0.2.53", "alive=10.1.0.1", "leaving=10.1.2.1")

	if err := client.Delete[*api.Node](ctx, c.cli, "", "leaving", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.wantDNSAddresses("-=192.0.2.53", "alive=10.1.0.1")

	// A write naming a node that does not exist (an agent racing its own
	// Node's deletion) is repaired as soon as it is seen.
	got, err := client.Get[*api.Endpoints](ctx, c.cli, node.SystemNamespace, node.DNSServiceName)
	if err != nil {
		t.Fatal(err)
	}
	got.Subsets = append(got.Subsets, dnsSubsetOf("late", "10.1.3.1"))
	if _, err := client.Update(ctx, c.cli, got); err != nil {
		t.Fatal(err)
	}
	c.wantDNSAddresses("-=192.0.2.53", "alive=10.1.0.1")
}

// An unreachable node keeps its address through the pod eviction timeout
// (its agent may come back), then loses it; a node that keeps renewing
// keeps its own.
func TestDNSAddressOfUnreachableNodeRemovedAfterEvictionTimeout(t *testing.T) {
	c := startNodeLifecycle(t, `{"podEvictionTimeout":"60s"}`)
	ctx := context.Background()
	c.registerNode("alive")
	c.registerNode("dead")
	c.eventually(func() error {
		_, err := client.Get[*api.Namespace](ctx, c.cli, "", LeaseNamespace)
		return err
	})
	c.renew("alive")
	c.renew("dead")
	ep := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: api.ObjectMeta{Namespace: node.SystemNamespace, Name: node.DNSServiceName},
		Subsets:    []api.EndpointSubset{dnsSubsetOf("alive", "10.1.0.1"), dnsSubsetOf("dead", "10.1.1.1")}}
	if _, err := client.Create(ctx, c.cli, ep); err != nil {
		t.Fatal(err)
	}

	// Both heartbeat while the controller watches; then "dead" goes silent.
	c.advance(30*time.Second, "alive", "dead")
	c.advance(50*time.Second, "alive")
	c.eventually(func() error {
		if got := taintKeys(c.node("dead").Spec.Taints); !strings.Contains(got, TaintUnreachable+":NoExecute") {
			return fmt.Errorf("dead node taints %q", got)
		}
		return nil
	})
	if got, err := c.dnsAddresses(); err != nil || len(got) != 2 {
		t.Fatalf("an unreachable node's address must stay until the eviction timeout: %v (%v)", got, err)
	}
	c.advance(70*time.Second, "alive")
	c.wantDNSAddresses("alive=10.1.0.1")
}

func TestWithoutNode(t *testing.T) {
	shared := api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: "10.0.0.1", NodeName: api.Ptr("a")}, {IP: "10.0.0.2", NodeName: api.Ptr("b")}},
		NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.3", NodeName: api.Ptr("a")}}}
	notReadyOnly := api.EndpointSubset{NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.4", NodeName: api.Ptr("a")}}}
	in := []api.EndpointSubset{dnsSubsetOf("a", "10.1.0.1"), shared, notReadyOnly, dnsSubsetOf("c", "10.1.2.1")}
	out, changed := withoutNode(in, "a")
	if !changed || len(out) != 2 {
		t.Fatalf("want the shared subset without a's addresses and c's subset, got %+v", out)
	}
	if len(out[0].Addresses) != 1 || out[0].Addresses[0].IP != "10.0.0.2" || len(out[0].NotReadyAddresses) != 0 || *out[1].Addresses[0].NodeName != "c" {
		t.Fatalf("got %+v", out)
	}
	if len(in[1].Addresses) != 2 || len(in[1].NotReadyAddresses) != 1 {
		t.Fatal("withoutNode must not change its input")
	}
	if _, changed := withoutNode(out, "a"); changed {
		t.Fatal("nothing of a left, yet changed")
	}
}

func runNodeLifecycle(t *testing.T, c *cluster, factory reconcile.Factory) {
	t.Helper()
	scenario.RunControllers(t, c.cli, c.clock, scenario.Controller{Name: Name, Factory: factory})
}
