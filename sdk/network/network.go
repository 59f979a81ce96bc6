// Package network is the network.v1 contract. The plugin computes the node
// fabric as a plan from the cluster's nodes; the host applies it (links,
// routes, neighbours, FDB entries) and reconciles it with what exists, and
// hands Plan.CNIConfig to the CNI plugins for each pod.
package network

import "context"

// NodeInfo is one node as the fabric sees it.
type NodeInfo struct {
	Name string `json:"name"`
	// IP is the node's address on the underlay.
	IP string `json:"ip"`
	// PodCIDR is the node's pod subnet, e.g. "10.244.3.0/24".
	PodCIDR string `json:"podCIDR"`
	// VTEPMAC is the MAC of the node's VXLAN device when the fabric uses one.
	VTEPMAC string `json:"vtepMAC,omitempty"`
}

// Input is what the plugin plans from: this node, its peers and the
// cluster-wide settings.
type Input struct {
	Self        NodeInfo   `json:"self"`
	Peers       []NodeInfo `json:"peers"`
	ClusterCIDR string     `json:"clusterCIDR"`
	ServiceCIDR string     `json:"serviceCIDR"`
	// UnderlayMTU is the MTU of the node's uplink.
	UnderlayMTU int `json:"underlayMTU"`
}

// Device is a link the host creates (kind "bridge" or "vxlan").
type Device struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	MTU     int    `json:"mtu,omitempty"`
	Address string `json:"address,omitempty"` // CIDR assigned to the link
	VNI     int    `json:"vni,omitempty"`
	Port    int    `json:"port,omitempty"`
	Local   string `json:"local,omitempty"` // underlay source IP
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

// Plan is the fabric the node should have. The host adds what is missing and
// removes what it created earlier and is no longer planned.
type Plan struct {
	Devices   []Device   `json:"devices,omitempty"`
	Routes    []Route    `json:"routes,omitempty"`
	Neighbors []Neighbor `json:"neighbors,omitempty"`
	FDB       []FDBEntry `json:"fdb,omitempty"`
	// Masquerade lists source CIDRs to SNAT when leaving the cluster CIDR.
	Masquerade []string `json:"masquerade,omitempty"`
	// CNIConfig is the CNI network configuration list (JSON) for pods here.
	CNIConfig []byte `json:"cniConfig"`
}

// Plugin plans a node's network.
type Plugin interface {
	Plan(ctx context.Context, in Input) (Plan, error)
}
