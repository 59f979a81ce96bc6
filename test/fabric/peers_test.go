package fabric_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/core/node/fabric"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/subnet"
	"github.com/skiff-sh/skiff/sdk/network"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

func apiNode(name, ip, cidr string) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	n.Spec.PodCIDR = cidr
	n.Status.Addresses = []api.NodeAddress{{Type: "InternalIP", Address: ip}}
	return n
}

func next(t *testing.T, peers <-chan []network.NodeInfo) string {
	t.Helper()
	select {
	case p := <-peers:
		b, _ := json.Marshal(p)
		return string(b)
	case <-time.After(10 * time.Second):
		t.Fatal("no peer set within 10s")
		return ""
	}
}

func TestWatchPeersAndRun(t *testing.T) {
	srv := etcd.NewServer(t)
	c := srv.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, n := range []*api.Node{apiNode("self", "172.31.0.1", "10.244.1.0/24"), apiNode("b", "172.31.0.2", "10.244.2.0/24")} {
		if _, err := client.Create(ctx, c, n); err != nil {
			t.Fatal(err)
		}
	}
	informers := reconcile.NewSharedInformerFactory(c, nil)
	peers := fabric.WatchPeers(ctx, informers, "self")
	informers.Start(ctx)

	// Run consumes the peer sets: plan, sync (in a private namespace) and
	// publish the plan's annotations, as the agent wires it.
	planned := make(chan []network.NodeInfo, 10)
	relay := make(chan []network.NodeInfo)
	f := newFabric(t, testNS(t))
	go f.Run(ctx, fabric.RunOptions{
		Input: network.Input{Self: network.NodeInfo{Name: "self"}},
		Plan: func(_ context.Context, in network.Input) (network.Plan, error) {
			planned <- in.Peers
			return network.Plan{Annotations: map[string]string{network.AnnotationBackend: "test"}}, nil
		},
		Peers: relay,
		Applied: func(ctx context.Context, plan network.Plan) {
			if err := fabric.PublishAnnotations(ctx, c, "self", plan.Annotations); err != nil {
				t.Error(err)
			}
		},
	})

	want := `[{"name":"b","ip":"172.31.0.2","podCIDR":"10.244.2.0/24"}]`
	if got := next(t, peers); got != want {
		t.Fatalf("first peer set: %s, want %s", got, want)
	}
	relay <- []network.NodeInfo{{Name: "b"}}
	select {
	case p := <-planned:
		if len(p) != 1 || p[0].Name != "b" {
			t.Errorf("Run planned with peers %v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not plan")
	}
	// The published annotation does not change the peer set of self.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := client.Get[*api.Node](ctx, c, "", "self")
		if err == nil && n.Annotations[network.AnnotationBackend] == "test" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("annotation not published: %v %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A joining node, a moved one and a departed one each give a new set.
	if _, err := client.Create(ctx, c, apiNode("c", "172.31.0.3", "10.244.3.0/24")); err != nil {
		t.Fatal(err)
	}
	want = `[{"name":"b","ip":"172.31.0.2","podCIDR":"10.244.2.0/24"},{"name":"c","ip":"172.31.0.3","podCIDR":"10.244.3.0/24"}]`
	if got := next(t, peers); got != want {
		t.Errorf("after c joined: %s, want %s", got, want)
	}
	patch := `{"metadata":{"annotations":{"skiff.io/public-ip":"172.31.0.12","skiff.io/vtep-mac":"0e:73:ac:1f:00:0c"}}}`
	if _, err := client.Patch[*api.Node](ctx, c, "", "b", []byte(patch)); err != nil {
		t.Fatal(err)
	}
	want = `[{"name":"b","ip":"172.31.0.12","podCIDR":"10.244.2.0/24","vtepMAC":"0e:73:ac:1f:00:0c"},{"name":"c","ip":"172.31.0.3","podCIDR":"10.244.3.0/24"}]`
	if got := next(t, peers); got != want {
		t.Errorf("after b moved: %s, want %s", got, want)
	}
	if err := client.Delete[*api.Node](ctx, c, "", "c", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want = `[{"name":"b","ip":"172.31.0.12","podCIDR":"10.244.2.0/24","vtepMAC":"0e:73:ac:1f:00:0c"}]`
	if got := next(t, peers); got != want {
		t.Errorf("after c left: %s, want %s", got, want)
	}
}

// A node that was down past its lease keeps its old spec.podCIDR; once the
// subnet is leased to another node, only the holder is routed to it.
func TestWatchPeersSkipsStaleSubnetClaims(t *testing.T) {
	srv := etcd.NewServer(t)
	c := srv.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alloc, err := subnet.New(subnet.Config{Client: c, ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*api.Node{apiNode("old", "172.31.0.2", "10.244.5.0/24"), apiNode("new", "172.31.0.3", "10.244.5.0/24")} {
		if _, err := client.Create(ctx, c, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alloc.Acquire(ctx, "old", "10.244.5.0/24"); err != nil {
		t.Fatal(err)
	}
	informers := reconcile.NewSharedInformerFactory(c, nil)
	peers := fabric.WatchPeers(ctx, informers, "self")
	informers.Start(ctx)
	want := `[{"name":"old","ip":"172.31.0.2","podCIDR":"10.244.5.0/24"}]`
	if got := next(t, peers); got != want {
		t.Fatalf("while old holds the lease: %s, want %s", got, want)
	}
	// The lease moves to new (reclaimed, then acquired).
	if err := client.Delete[*api.ConfigMap](ctx, c, subnet.Namespace, "podcidr-10-244-5-0-24", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alloc.Acquire(ctx, "new", "10.244.5.0/24"); err != nil {
		t.Fatal(err)
	}
	want = `[{"name":"new","ip":"172.31.0.3","podCIDR":"10.244.5.0/24"}]`
	deadline := time.Now().Add(10 * time.Second)
	for got := next(t, peers); got != want; got = next(t, peers) {
		if time.Now().After(deadline) {
			t.Fatalf("after the lease moved: %s, want %s", got, want)
		}
	}
}
