package multinode

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/node/fabric"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/plugins/network/routed"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/test/harness"
	"github.com/skiff-sh/skiff/test/images"
)

const clusterCIDR = "10.244.0.0/16"

var factories = map[string]sdk.Factory{overlay.Name: overlay.Factory, routed.Name: routed.Factory}

// node is a harness node running a fabric, with one pod attached through
// the bridge plugin's CNI mechanism and an HTTP server in the pod.
type node struct {
	*harness.Node
	subnet string
	fab    *fabric.Fabric
	plan   network.Plan
	pods   *bridge.Network
	podNS  string
	podIP  net.IP
}

// fixture is a cluster whose nodes all run one backend.
type fixture struct {
	t       *testing.T
	cluster *harness.Cluster
	backend string
	nodes   []*node
}

func newFixture(t *testing.T, backend string, n int) *fixture {
	images.RequireHost(t, "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "iptables")
	f := &fixture{t: t, cluster: harness.New(t, harness.Options{}), backend: backend}
	for range n {
		f.addNode()
	}
	f.syncAll()
	for _, nd := range f.nodes {
		f.attachPod(nd)
	}
	return f
}

// addNode creates a node with the next free /24 (the lease allocator's job
// in a cluster; the fabric only needs the result).
func (f *fixture) addNode() *node {
	f.t.Helper()
	hn, err := f.cluster.AddNode(f.t.TempDir())
	if err != nil {
		f.t.Fatal(err)
	}
	nd := &node{Node: hn, subnet: fmt.Sprintf("10.244.%d.0/24", len(f.cluster.Nodes()))}
	if nd.fab, err = hn.NewFabric(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		if nd.pods != nil {
			if err := hn.TeardownPods(nd.pods); err != nil {
				f.t.Errorf("node %s: pod network teardown: %v", hn.Name, err)
			}
		}
		if _, err := nd.fab.Teardown(context.Background()); err != nil {
			f.t.Errorf("node %s: fabric teardown: %v", hn.Name, err)
		}
	})
	f.nodes = append(f.nodes, nd)
	return nd
}

func (f *fixture) info(nd *node) network.NodeInfo {
	return network.NodeInfo{Name: nd.Name, IP: nd.IP.String(), PodCIDR: nd.subnet}
}

// planFor runs the backend for nd, as the agent does on each peer change.
func (f *fixture) planFor(nd *node) network.Plan {
	f.t.Helper()
	p, err := factories[f.backend](sdk.Args(fmt.Sprintf(`{"ipamDir": %q}`, filepath.Join(nd.DataDir, "ipam"))), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	in := network.Input{Self: f.info(nd), ClusterCIDR: clusterCIDR, UnderlayMTU: f.cluster.MTU}
	for _, peer := range f.nodes {
		in.Peers = append(in.Peers, f.info(peer))
	}
	plan, err := p.(network.Plugin).Plan(context.Background(), in)
	if err != nil {
		f.t.Fatal(err)
	}
	return plan
}

// syncAll plans and applies every node's fabric, returning the changes.
func (f *fixture) syncAll() map[string]fabric.Changes {
	f.t.Helper()
	out := map[string]fabric.Changes{}
	for _, nd := range f.nodes {
		nd.plan = f.planFor(nd)
		ch, err := nd.fab.Sync(context.Background(), nd.plan)
		if err != nil {
			f.t.Fatalf("node %s: %v", nd.Name, err)
		}
		out[nd.Name] = ch
	}
	return out
}

// attachPod attaches one pod to nd through CNI and serves HTTP in it.
func (f *fixture) attachPod(nd *node) {
	f.t.Helper()
	pods, err := nd.PodNetwork(f.cluster, nd.plan.CNIConfig)
	if err != nil {
		f.t.Fatal(err)
	}
	nd.pods = pods
	att, err := nd.AttachPod(pods, "pod-"+nd.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	nd.podNS, nd.podIP = att.NetNSPath, att.IP
	serveIn(f.t, nd.podNS, nd.Name)
}

// serveIn answers every HTTP request on :8080 in the namespace at path with
// the caller's address and body.
func serveIn(t testing.TB, path, body string) {
	t.Helper()
	l, err := harness.ListenIn(path, "tcp", ":8080")
	if err != nil {
		t.Fatalf("listen in %s: %v", path, err)
	}
	serveOn(t, l, body)
}

// serveOn answers every request on l with body and the caller's address.
func serveOn(t testing.TB, l net.Listener, body string) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "%s from %s", body, host)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// newFabricLike is a second Fabric over nd's namespace and state, as after
// an agent restart.
func newFabricLike(t testing.TB, nd *node) *fabric.Fabric {
	f, err := nd.NewFabric()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// get fetches http://ip:port/ from inside the namespace at from, retrying
// briefly (a new route or neighbour takes a moment to be used).
func get(from string, ip net.IP, port int) (string, error) {
	client := &http.Client{Transport: &http.Transport{DialContext: harness.DialerIn(from), DisableKeepAlives: true}, Timeout: 2 * time.Second}
	var err error
	for range 5 {
		var resp *http.Response
		if resp, err = client.Get(fmt.Sprintf("http://%s/", net.JoinHostPort(ip.String(), fmt.Sprint(port)))); err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b), rerr
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", err
}

// checkMesh asserts that every pod reaches every other pod and every node
// reaches every pod, and that pods see each other's own addresses.
func (f *fixture) checkMesh() {
	f.t.Helper()
	for _, from := range f.nodes {
		for _, to := range f.nodes {
			got, err := get(from.podNS, to.podIP, 8080)
			want := fmt.Sprintf("%s from %s", to.Name, from.podIP)
			if err != nil || got != want {
				f.t.Errorf("%s: pod on %s -> pod on %s (%s): got %q, %v; want %q", f.backend, from.Name, to.Name, to.podIP, got, err, want)
			}
			if got, err := get(from.NetNS, to.podIP, 8080); err != nil || !strings.HasPrefix(got, to.Name+" from ") {
				f.t.Errorf("%s: node %s -> pod on %s (%s): got %q, %v", f.backend, from.Name, to.Name, to.podIP, got, err)
			}
		}
	}
}

// dumps returns every node's host state.
func (f *fixture) dumps() map[string]string {
	f.t.Helper()
	out := map[string]string{}
	for _, nd := range f.nodes {
		d, err := harness.Dump(nd.NetNS)
		if err != nil {
			f.t.Fatal(err)
		}
		out[nd.Name] = d
	}
	return out
}
