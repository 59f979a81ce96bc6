package network

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"slices"
)

// Helpers for backend authors: input checking and the part of a plan every
// routed pod network shares (a gateway bridge, forwarding and masquerade
// rules, ip_forward, the CNI configuration). Pure, so WASM guests use them.

// CNIVersion is the CNI version Debian's containernetworking-plugins (1.1.x)
// accept.
const CNIVersion = "1.0.0"

// SysctlIPForward is the sysctl that lets a node route pod traffic.
const SysctlIPForward = "net/ipv4/ip_forward"

// ParsedNode is a node of the input with its addresses parsed.
type ParsedNode struct {
	NodeInfo
	Addr   net.IP
	Subnet *net.IPNet
}

// Parsed is a checked Input.
type Parsed struct {
	Self    ParsedNode
	Cluster *net.IPNet
	// Peers are the usable peers, sorted by name; Skipped says why each
	// other peer was left out (no address or subnet yet, or bad ones), for
	// the backend to log.
	Peers   []ParsedNode
	Skipped []string
	// UnderlayMTU is the input's, or 1500 when it gave none.
	UnderlayMTU int
}

// Parse checks an Input: this node must have an IPv4 address and a pod
// subnet inside the cluster CIDR. A peer that has not published both yet,
// or whose subnet is outside the cluster CIDR or collides with another
// node's, is skipped rather than failing the whole plan: one bad Node must
// not take the fabric of every node down.
func Parse(in Input) (Parsed, error) {
	var p Parsed
	_, cluster, err := net.ParseCIDR(in.ClusterCIDR)
	if err != nil || cluster.IP.To4() == nil {
		return p, fmt.Errorf("cluster CIDR %q: must be an IPv4 CIDR such as 10.244.0.0/16", in.ClusterCIDR)
	}
	p.Cluster = cluster
	self, err := parseNode(in.Self, cluster)
	if err != nil {
		return p, fmt.Errorf("this node: %w", err)
	}
	p.Self = self
	p.UnderlayMTU = in.UnderlayMTU
	if p.UnderlayMTU == 0 {
		p.UnderlayMTU = 1500
	}
	if p.UnderlayMTU < 576 || p.UnderlayMTU > 65535 {
		return p, fmt.Errorf("underlay MTU: must be between 576 and 65535, got %d", in.UnderlayMTU)
	}
	peers := slices.Clone(in.Peers)
	slices.SortFunc(peers, func(a, b NodeInfo) int { return cmp.Compare(a.Name, b.Name) })
	taken := []*net.IPNet{self.Subnet}
	for _, n := range peers {
		if n.Name == in.Self.Name {
			continue
		}
		peer, err := parseNode(n, cluster)
		if err != nil {
			p.Skipped = append(p.Skipped, fmt.Sprintf("peer %v", err))
			continue
		}
		if slices.ContainsFunc(taken, func(s *net.IPNet) bool { return overlaps(s, peer.Subnet) }) {
			p.Skipped = append(p.Skipped, fmt.Sprintf("peer node %q: pod subnet %s overlaps another node's", n.Name, n.PodCIDR))
			continue
		}
		taken = append(taken, peer.Subnet)
		p.Peers = append(p.Peers, peer)
	}
	return p, nil
}

func parseNode(n NodeInfo, cluster *net.IPNet) (ParsedNode, error) {
	out := ParsedNode{NodeInfo: n}
	if n.IP == "" || n.PodCIDR == "" {
		return out, fmt.Errorf("node %q: no address or pod subnet published yet", n.Name)
	}
	out.Addr = net.ParseIP(n.IP).To4()
	if out.Addr == nil {
		return out, fmt.Errorf("node %q: address %q: must be an IPv4 address", n.Name, n.IP)
	}
	_, subnet, err := net.ParseCIDR(n.PodCIDR)
	if err != nil || subnet.IP.To4() == nil {
		return out, fmt.Errorf("node %q: pod subnet %q: must be an IPv4 CIDR such as 10.244.3.0/24", n.Name, n.PodCIDR)
	}
	if ones, bits := subnet.Mask.Size(); bits-ones < 2 {
		return out, fmt.Errorf("node %q: pod subnet %s: too small for a gateway and pods", n.Name, n.PodCIDR)
	}
	cOnes, _ := cluster.Mask.Size()
	sOnes, _ := subnet.Mask.Size()
	if !cluster.Contains(subnet.IP) || sOnes < cOnes {
		return out, fmt.Errorf("node %q: pod subnet %s is outside the cluster CIDR %s", n.Name, n.PodCIDR, cluster)
	}
	out.Subnet = subnet
	return out, nil
}

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

// Offset returns the address n places into subnet (0 is the network
// address, 1 the gateway).
func Offset(subnet *net.IPNet, n byte) net.IP {
	ip := slices.Clone(subnet.IP.To4())
	ip[3] += n
	return ip
}

// BaseOptions describe the pod side of a node's network.
type BaseOptions struct {
	// Backend is published as AnnotationBackend.
	Backend string
	// Bridge is the pods' gateway bridge; Network the CNI network name;
	// IPAMDir host-local's data directory.
	Bridge, Network, IPAMDir string
	// PodMTU is the MTU of the bridge and the pods' interfaces.
	PodMTU int
}

// BasePlan is what every routed pod network needs on a node: the gateway
// bridge with the subnet's first address, forwarding of cluster traffic,
// masquerade of pod traffic leaving the cluster CIDR, ip_forward and the CNI
// configuration (bridge + host-local without the bridge plugin's own
// masquerade, which would hide pod addresses from pods on other nodes).
func BasePlan(p Parsed, o BaseOptions) (Plan, error) {
	if len(o.Bridge) == 0 || len(o.Bridge) > 15 {
		return Plan{}, fmt.Errorf("bridge %q: device names are 1 to 15 characters", o.Bridge)
	}
	gateway := &net.IPNet{IP: Offset(p.Self.Subnet, 1), Mask: p.Self.Subnet.Mask}
	cni, err := BridgeConfList(BridgeCNI{Network: o.Network, Bridge: o.Bridge, Subnet: p.Self.Subnet.String(), MTU: o.PodMTU, IPAMDir: o.IPAMDir})
	if err != nil {
		return Plan{}, err
	}
	cluster := p.Cluster.String()
	return Plan{
		Devices: []Device{{Name: o.Bridge, Kind: KindBridge, MTU: o.PodMTU, Address: gateway.String()}},
		Rules: []Rule{
			{Table: "filter", Chain: "FORWARD", Args: []string{"-s", cluster, "-j", "ACCEPT"}},
			{Table: "filter", Chain: "FORWARD", Args: []string{"-d", cluster, "-j", "ACCEPT"}},
			{Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", cluster, "-d", cluster, "-j", "RETURN"}},
			{Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", cluster, "!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"}},
		},
		Sysctls:     map[string]string{SysctlIPForward: "1"},
		CNIConfig:   cni,
		Annotations: map[string]string{AnnotationBackend: o.Backend, AnnotationPublicIP: p.Self.Addr.String()},
	}, nil
}

// BridgeCNI describes a pod network on a gateway bridge.
type BridgeCNI struct {
	Network, Bridge, Subnet, IPAMDir string
	MTU                              int
	// IPMasq lets the bridge plugin masquerade traffic leaving the node's
	// subnet: right for a one-node network, wrong across nodes.
	IPMasq bool
}

// BridgeConfList renders the CNI configuration list: bridge (the pods'
// gateway) with host-local IPAM on the subnet, plus loopback.
func BridgeConfList(o BridgeCNI) ([]byte, error) {
	_, subnet, err := net.ParseCIDR(o.Subnet)
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("pod subnet %q: must be an IPv4 CIDR such as 10.244.3.0/24", o.Subnet)
	}
	if o.MTU < 576 || o.MTU > 65535 {
		return nil, fmt.Errorf("pod network MTU: must be between 576 and 65535, got %d", o.MTU)
	}
	if o.Network == "" || o.Bridge == "" || o.IPAMDir == "" {
		return nil, fmt.Errorf("pod network: network name, bridge and IPAM dir are required")
	}
	conf := map[string]any{
		"cniVersion": CNIVersion,
		"name":       o.Network,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": o.Bridge, "isGateway": true, "isDefaultGateway": true,
				"ipMasq": o.IPMasq, "hairpinMode": true, "mtu": o.MTU,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": o.IPAMDir,
					"ranges":  [][]map[string]string{{{"subnet": subnet.String()}}},
				},
			},
			map[string]any{"type": "loopback"},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// PodArgs are the arguments of every backend whose pods hang off a gateway
// bridge; backends embed it in their Args (its fields read as top-level
// `args:` keys).
type PodArgs struct {
	// MTU of pod interfaces (default: the largest the backend allows).
	MTU int `json:"mtu,omitempty"`
	// Bridge is the gateway bridge (default skiff0), Network the CNI
	// network name (default skiff) and IPAMDir host-local's data dir
	// (default /var/lib/skiff/cni/ipam).
	Bridge  string `json:"bridge,omitempty"`
	Network string `json:"network,omitempty"`
	IPAMDir string `json:"ipamDir,omitempty"`
}

// SetDefaults fills empty fields and checks the others.
func (a *PodArgs) SetDefaults() error {
	if a.Bridge == "" {
		a.Bridge = "skiff0"
	}
	if a.Network == "" {
		a.Network = "skiff"
	}
	if a.IPAMDir == "" {
		a.IPAMDir = "/var/lib/skiff/cni/ipam"
	}
	if len(a.Bridge) > 15 {
		return fmt.Errorf("args.bridge %q: device names are at most 15 characters", a.Bridge)
	}
	if a.MTU != 0 && (a.MTU < 576 || a.MTU > 65535) {
		return fmt.Errorf("args.mtu: must be between 576 and 65535, got %d", a.MTU)
	}
	return nil
}

// Options returns the BaseOptions of a backend using these args.
func (a PodArgs) Options(backend string, podMTU int) BaseOptions {
	return BaseOptions{Backend: backend, Bridge: a.Bridge, Network: a.Network, IPAMDir: a.IPAMDir, PodMTU: podMTU}
}
