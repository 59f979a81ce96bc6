package multinode

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/plugins/network/routed"
)

func TestOverlay(t *testing.T) { testBackend(t, overlay.Name) }

func TestRouted(t *testing.T) { testBackend(t, routed.Name) }

func testBackend(t *testing.T, backend string) {
	f := newFixture(t, backend, 3)
	f.checkMesh()
	if t.Failed() {
		t.FailNow()
	}

	t.Run("pod traffic leaving the cluster is masqueraded", func(t *testing.T) {
		l, err := net.Listen("tcp", net.JoinHostPort(f.cluster.HostIP.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		serveOn(t, l, "host")
		for _, nd := range f.nodes {
			got, err := get(nd.podNS, f.cluster.HostIP, l.Addr().(*net.TCPAddr).Port)
			if want := "host from " + nd.IP.String(); err != nil || got != want {
				t.Errorf("pod on %s -> host outside the cluster: got %q, %v; want %q (source NATed to the node)", nd.Name, got, err, want)
			}
		}
	})

	t.Run("a restarted fabric leaves the host as it was", func(t *testing.T) {
		before := f.dumps()
		for _, nd := range f.nodes {
			ch, err := newFabricLike(t, nd).Sync(context.Background(), nd.plan)
			if err != nil || len(ch) != 0 {
				t.Errorf("node %s: sync after restart: changes %q, %v", nd.Name, ch, err)
			}
		}
		after := f.dumps()
		for name := range before {
			if before[name] != after[name] {
				t.Errorf("node %s: state changed by a restart:\nbefore:\n%s\nafter:\n%s", name, before[name], after[name])
			}
		}
	})

	t.Run("a joining node gets a subnet and is reachable", func(t *testing.T) {
		joined := f.addNode()
		changes := f.syncAll()
		for _, nd := range f.nodes[:len(f.nodes)-1] {
			if len(changes[nd.Name]) == 0 {
				t.Errorf("node %s: did not program the joining node", nd.Name)
			}
		}
		f.attachPod(joined)
		f.checkMesh()
	})

	t.Run("a removed node is cleaned from every peer", func(t *testing.T) {
		gone := f.nodes[1]
		f.nodes = append(f.nodes[:1:1], f.nodes[2:]...)
		f.syncAll()
		// Its subnet's network address is its VTEP (overlay) and its node
		// IP the gateway of its subnet (routed): neither may remain.
		vtep := strings.TrimSuffix(gone.subnet, "/24")
		for name, d := range f.dumps() {
			for _, stale := range []string{gone.subnet, " " + vtep + " ", "dst " + gone.IP.String()} {
				if strings.Contains(d, stale) {
					t.Errorf("node %s still has state for removed node %s (%q):\n%s", name, gone.Name, stale, d)
				}
			}
		}
		f.checkMesh()
	})
}

func TestSwapBackends(t *testing.T) {
	f := newFixture(t, overlay.Name, 3)
	for _, backend := range []string{routed.Name, overlay.Name, routed.Name} {
		f.backend = backend
		f.syncAll()
		for name, d := range f.dumps() {
			hasVXLAN := strings.Contains(d, "type=vxlan") || strings.Contains(d, "fdb ") || strings.Contains(d, "neigh ")
			if hasVXLAN != (backend == overlay.Name) {
				t.Errorf("after swapping to %s, node %s: VXLAN device or entries present = %v:\n%s", backend, name, hasVXLAN, d)
			}
			if !strings.Contains(d, "proto 115") {
				t.Errorf("after swapping to %s, node %s: no fabric routes:\n%s", backend, name, d)
			}
		}
		f.checkMesh()
	}
}
