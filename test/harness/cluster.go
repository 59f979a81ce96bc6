// Package harness builds multi-node clusters on one machine for tests: an
// underlay bridge in a network namespace of its own, one namespace per node
// with a veth to it, and a veth from the host so that servers the test runs
// in its own namespace (the API server) are reachable from every node.
// Everything lives in namespaces and devices the harness creates, and
// Close removes all of it. Tests that use it must run as root.
package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/skiff-sh/skiff/core/node/fabric"
)

// Options shape a cluster.
type Options struct {
	// Nodes is how many nodes New creates (default 3).
	Nodes int
	// Underlay is the node network, a /24 (default 172.31.N.0/24 with a
	// random N, so concurrent test binaries do not collide). Nodes get
	// .1, .2, ...; the host gets .254.
	Underlay string
	// MTU of the underlay (default 1500).
	MTU int
}

// Cluster is a set of node namespaces on one underlay.
type Cluster struct {
	// ID is random and names everything the cluster creates on the host.
	ID string
	// HostIP is the host's address on the underlay: a server listening on
	// it (or on all addresses) is reachable from every node.
	HostIP  net.IP
	Network *net.IPNet
	MTU     int

	underlayNS string
	hostLink   string

	mu    sync.Mutex
	nodes []*Node
	next  int
}

// Node is one node: a network namespace whose uplink eth0 has IP.
type Node struct {
	Name  string
	NetNS string
	IP    net.IP
	// Uplink is the node's underlay device.
	Uplink string
	// DataDir is a private directory for the node's state.
	DataDir string

	port string // its veth end on the underlay bridge
}

const underlayBridge = "underlay0"

// New creates the cluster and its first nodes; t's cleanup closes it.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("multi-node harness: needs root (network namespaces)")
	}
	c, err := Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("harness teardown: %v", err)
		}
	})
	for range opts.Nodes {
		if _, err := c.AddNode(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Create builds the underlay without nodes (opts.Nodes is New's); Close
// removes it.
func Create(opts Options) (c *Cluster, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.Underlay == "" {
		opts.Underlay = fmt.Sprintf("172.31.%d.0/24", rand.IntN(250))
	}
	_, network, err := net.ParseCIDR(opts.Underlay)
	if err != nil || network.IP.To4() == nil {
		return nil, fmt.Errorf("harness: underlay %q: must be an IPv4 /24 such as 172.31.0.0/24", opts.Underlay)
	}
	if ones, _ := network.Mask.Size(); ones != 24 {
		return nil, fmt.Errorf("harness: underlay %q: must be a /24", opts.Underlay)
	}
	c = &Cluster{ID: fmt.Sprintf("%05x", rand.IntN(1<<20)), Network: network, MTU: opts.MTU}
	c.HostIP = hostAddr(network, 254)
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.underlayNS, err = NewNetNS("skh-" + c.ID + "-underlay"); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	err = fabric.InNetNS(c.underlayNS, func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = underlayBridge, opts.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("underlay bridge: %w", err)
		}
		return configure(underlayBridge, nil, "")
	})
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	c.hostLink = "skh" + c.ID
	if err := vethInto(c.hostLink, "skh"+c.ID+"p", c.underlayNS, "host", opts.MTU); err != nil {
		return nil, fmt.Errorf("harness: host link: %w", err)
	}
	if err := configure(c.hostLink, &net.IPNet{IP: c.HostIP, Mask: network.Mask}, ""); err != nil {
		return nil, fmt.Errorf("harness: host link: %w", err)
	}
	if err := fabric.InNetNS(c.underlayNS, func() error { return configure("host", nil, underlayBridge) }); err != nil {
		return nil, fmt.Errorf("harness: host link: %w", err)
	}
	return c, nil
}

func hostAddr(network *net.IPNet, n byte) net.IP {
	ip := append(net.IP(nil), network.IP.To4()...)
	ip[3] = n
	return ip
}

// AddNode creates the next node (node-1, node-2, ...) with its data in
// dataDir.
func (c *Cluster) AddNode(dataDir string) (*Node, error) {
	c.mu.Lock()
	c.next++
	i := c.next
	c.mu.Unlock()
	if i >= 254 {
		return nil, fmt.Errorf("harness: a /24 underlay holds at most 253 nodes")
	}
	n := &Node{Name: fmt.Sprintf("node-%d", i), IP: hostAddr(c.Network, byte(i)), Uplink: "eth0", DataDir: dataDir, port: fmt.Sprintf("n%d", i)}
	var err error
	if n.NetNS, err = NewNetNS(fmt.Sprintf("skh-%s-%s", c.ID, n.Name)); err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	err = fabric.InNetNS(c.underlayNS, func() error {
		if err := vethInto(n.port, n.port+"p", n.NetNS, n.Uplink, c.MTU); err != nil {
			return err
		}
		return configure(n.port, nil, underlayBridge)
	})
	if err == nil {
		err = n.Do(func() error { return configure(n.Uplink, &net.IPNet{IP: n.IP, Mask: c.Network.Mask}, "") })
	}
	if err != nil {
		DeleteNetNS(n.NetNS)
		return nil, fmt.Errorf("harness: node %s: %w", n.Name, err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, nil
}

// Nodes returns the live nodes in creation order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// RemoveNode deletes a node's namespace (a node that is gone for good).
// Processes the test started in it must be stopped first.
func (c *Cluster) RemoveNode(n *Node) error {
	c.mu.Lock()
	for i, x := range c.nodes {
		if x == n {
			c.nodes = append(c.nodes[:i], c.nodes[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	return DeleteNetNS(n.NetNS)
}

// Close removes every node, the underlay and the host link.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes() {
		errs = append(errs, c.RemoveNode(n))
	}
	if c.hostLink != "" {
		if link, err := netlink.LinkByName(c.hostLink); err == nil {
			errs = append(errs, netlink.LinkDel(link))
		}
	}
	if c.underlayNS != "" {
		errs = append(errs, DeleteNetNS(c.underlayNS))
	}
	return errors.Join(errs...)
}

// Do runs fn on an OS thread inside the node's namespace (netlink, sockets
// it opens, processes it starts). Goroutines fn starts run outside it.
func (n *Node) Do(fn func() error) error { return fabric.InNetNS(n.NetNS, fn) }

// Start starts cmd inside the node's namespace: the process and its
// children live there (an agent, a server). The caller waits for it.
func (n *Node) Start(cmd *exec.Cmd) error {
	return n.Do(func() error {
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("node %s: start %s: %w", n.Name, cmd.Path, err)
		}
		return nil
	})
}
