// Package network is the network.v1 contract. A network backend is a
// planner: from this node, its pod subnet and its peers it computes the node
// fabric as data (devices, addresses, routes, neighbour and FDB entries,
// iptables rules, sysctls) plus the CNI configuration for pods. The host
// applies the plan and reconciles it with what exists (core/node/fabric),
// and hands Plan.CNIConfig to the CNI plugins for each pod. A planner does
// no I/O, so the same source runs compiled in, as a process or as a WASM
// module.
package network

import "context"

// Well-known Node annotations a backend publishes through Plan.Annotations,
// as flannel does: peers read them to build their plans.
const (
	// AnnotationBackend names the backend the node's fabric runs.
	AnnotationBackend = "skiff.io/network-backend"
	// AnnotationVTEPMAC is the MAC of the node's VXLAN device.
	AnnotationVTEPMAC = "skiff.io/vtep-mac"
	// AnnotationPublicIP is the underlay address peers reach the node at.
	AnnotationPublicIP = "skiff.io/public-ip"
)

// NodeInfo is one node as the fabric sees it.
type NodeInfo struct {
	Name string `json:"name"`
	// IP is the node's address on the underlay.
	IP string `json:"ip"`
	// PodCIDR is the node's pod subnet, e.g. "10.244.3.0/24".
	PodCIDR string `json:"podCIDR"`
	// VTEPMAC is the MAC of the node's VXLAN device when the fabric uses one
	// (from AnnotationVTEPMAC; empty when not published yet).
	VTEPMAC string `json:"vtepMAC,omitempty"`
	// Backend is the backend the node publishes (AnnotationBackend).
	Backend string `json:"backend,omitempty"`
}

// Input is what the plugin plans from: this node, its peers and the
// cluster-wide settings. The host sorts Peers by name.
type Input struct {
	Self        NodeInfo   `json:"self"`
	Peers       []NodeInfo `json:"peers"`
	ClusterCIDR string     `json:"clusterCIDR"`
	ServiceCIDR string     `json:"serviceCIDR"`
	// UnderlayMTU is the MTU of the node's uplink.
	UnderlayMTU int `json:"underlayMTU"`
}

// Device kinds a plan may ask for.
const (
	KindBridge = "bridge"
	KindVXLAN  = "vxlan"
)

// Device is a link the host creates and keeps as planned.
type Device struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	MTU  int    `json:"mtu,omitempty"`
	// Address is the CIDR assigned to the link (e.g. 10.244.3.0/32).
	Address string `json:"address,omitempty"`
	// MAC, when set, is the link's hardware address: a stable VTEP MAC
	// survives the device being recreated, so peers' entries stay valid.
	MAC string `json:"mac,omitempty"`
	// VXLAN only: network identifier, UDP port, underlay source IP and
	// whether the device learns remote MACs (false: the plan's FDB and
	// neighbour entries are the only ones).
	VNI      int    `json:"vni,omitempty"`
	Port     int    `json:"port,omitempty"`
	Local    string `json:"local,omitempty"`
	Learning bool   `json:"learning,omitempty"`
}

// Route sends Dst via Via (optional) out of Dev; OnLink skips the gateway
// reachability check, as VXLAN routes need.
type Route struct {
	Dst    string `json:"dst"`
	Via    string `json:"via,omitempty"`
	Dev    string `json:"dev,omitempty"`
	OnLink bool   `json:"onLink,omitempty"`
}

// Neighbor is a permanent ARP entry on Dev.
type Neighbor struct {
	Dev string `json:"dev"`
	IP  string `json:"ip"`
	MAC string `json:"mac"`
}

// FDBEntry tells a VXLAN device which underlay IP a MAC lives behind.
type FDBEntry struct {
	Dev string `json:"dev"`
	MAC string `json:"mac"`
	Dst string `json:"dst"`
}

// Rule is one iptables rule. Chain is the built-in chain it hooks
// (FORWARD, POSTROUTING, ...); the host keeps the rules of a hook in a chain
// of its own that the built-in chain jumps to, so it owns exactly them.
// Args are iptables arguments without "-A CHAIN", e.g.
// ["-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16", "-j", "MASQUERADE"].
type Rule struct {
	Table string   `json:"table"`
	Chain string   `json:"chain"`
	Args  []string `json:"args"`
}

// Plan is the fabric the node should have. The host adds what is missing and
// removes what it created earlier and is no longer planned.
type Plan struct {
	Devices   []Device   `json:"devices,omitempty"`
	Routes    []Route    `json:"routes,omitempty"`
	Neighbors []Neighbor `json:"neighbors,omitempty"`
	FDB       []FDBEntry `json:"fdb,omitempty"`
	Rules     []Rule     `json:"rules,omitempty"`
	// Sysctls are set while the fabric lives, by /proc/sys path relative
	// name ("net/ipv4/ip_forward": "1"); the host restores a value it
	// changed when the fabric is torn down.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// CNIConfig is the CNI network configuration list (JSON) for pods here.
	CNIConfig []byte `json:"cniConfig"`
	// Annotations are published on this node's Node object for peers and
	// users (AnnotationBackend, AnnotationVTEPMAC, AnnotationPublicIP).
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Plugin plans a node's network. Plan must be a pure function of its input:
// the host calls it again whenever a peer joins, changes or leaves.
type Plugin interface {
	Plan(ctx context.Context, in Input) (Plan, error)
}
