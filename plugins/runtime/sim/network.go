package sim

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/skiff-sh/skiff/core/node"
)

// Network hands out fake pod IPs from a node's subnet, without namespaces
// or devices: enough for the control plane (endpoints, status) to see
// addressed pods.
type Network struct {
	subnet *net.IPNet

	mu    sync.Mutex
	byUID map[string]net.IP
	used  map[string]bool
}

var _ node.Network = (*Network)(nil)

// NewNetwork returns a simulated network over subnet, for node.Config.NewNetwork.
func NewNetwork(subnet string) (node.Network, error) {
	_, ipn, err := net.ParseCIDR(subnet)
	if err != nil || ipn.IP.To4() == nil {
		return nil, fmt.Errorf("sim network: subnet %q: must be an IPv4 CIDR", subnet)
	}
	return &Network{subnet: ipn, byUID: map[string]net.IP{}, used: map[string]bool{}}, nil
}

// Attach implements node.Network: the next free address after the gateway.
func (n *Network) Attach(_ context.Context, pod node.PodRef) (node.Attachment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.byUID[pod.UID]; ok {
		return node.Attachment{IPs: []net.IP{ip}}, nil
	}
	base := n.subnet.IP.To4()
	ones, bits := n.subnet.Mask.Size()
	size := 1 << (bits - ones)
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := 2; i < size-1; i++ {
		v := start + uint32(i)
		ip := net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
		if !n.used[ip.String()] {
			n.used[ip.String()] = true
			n.byUID[pod.UID] = ip
			return node.Attachment{IPs: []net.IP{ip}}, nil
		}
	}
	return node.Attachment{}, fmt.Errorf("sim network: subnet %s is full", n.subnet)
}

// Detach implements node.Network.
func (n *Network) Detach(_ context.Context, uid string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.byUID[uid]; ok {
		delete(n.used, ip.String())
		delete(n.byUID, uid)
	}
	return nil
}
