// Package proxy is the proxy.v1 contract: a plugin turns the node's view of
// services and their ready endpoints into a ruleset (iptables chains as
// data); the host syncs the ruleset to the node with iptables-restore and
// owns every chain the ruleset names. The plugin does no I/O, so the same
// planner runs compiled in, as a process or as a WASM module.
package proxy

import "context"

// Endpoint is one ready backend of a service port.
type Endpoint struct {
	IP   string `json:"ip"`
	Port int32  `json:"port"`
}

// Port is one service port and the ready endpoints it balances over.
type Port struct {
	// Name is the port's name in the Service ("" for a single unnamed port).
	Name string `json:"name,omitempty"`
	// Protocol is TCP, UDP or SCTP.
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
	// NodePort, when not 0, opens the port on every node address.
	NodePort int32 `json:"nodePort,omitempty"`
	// Endpoints are the ready backends; none means clients are rejected.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Service is a virtual IP with its ports.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ClusterIP string `json:"clusterIP"`
	Ports     []Port `json:"ports"`
	// SessionAffinity is "ClientIP" or "" (none).
	SessionAffinity string `json:"sessionAffinity,omitempty"`
	// AffinitySeconds is how long a client sticks to its endpoint.
	AffinitySeconds int32 `json:"affinitySeconds,omitempty"`
}

// Input is everything the node must proxy and how.
type Input struct {
	NodeName string `json:"nodeName"`
	// NodeIPs are the addresses NodePorts are opened on.
	NodeIPs []string `json:"nodeIPs"`
	// ClusterCIDR is the pod network; traffic to a service from outside it
	// is masqueraded so that replies come back through this node.
	ClusterCIDR string `json:"clusterCIDR"`
	// MasqueradeBit is the fwmark bit (0-31) that flags a packet for
	// masquerading; 0 means the default, 14 (0x4000), as kube-proxy.
	MasqueradeBit int `json:"masqueradeBit,omitempty"`
	// Services are sorted by namespace/name by the host.
	Services []Service `json:"services"`
}

// Chain is one chain of a table with its rules in iptables-save syntax,
// without the leading "-A <chain> ". Rules must be written exactly as
// iptables-save prints them: the host compares them with what is installed
// to rewrite only the chains that changed.
type Chain struct {
	Table string   `json:"table"`
	Name  string   `json:"name"`
	Rules []string `json:"rules"`
}

// Jump is a rule the host inserts at the top of a built-in chain (e.g. nat
// PREROUTING) to enter the plugin's chains, as iptables arguments.
type Jump struct {
	Table string   `json:"table"`
	Chain string   `json:"chain"`
	Args  []string `json:"args"`
}

// Ruleset is the complete state of the chains the plugin owns. Chains the
// host finds installed with the ruleset's Prefix and not listed here are
// deleted.
type Ruleset struct {
	// Prefix names every chain the plugin owns, e.g. "SKIFF-".
	Prefix string  `json:"prefix"`
	Chains []Chain `json:"chains"`
	Jumps  []Jump  `json:"jumps,omitempty"`
}

// Plugin computes the proxy ruleset. It must be a pure function of its
// input: the host calls it again whenever a service or endpoint changes.
type Plugin interface {
	Rules(ctx context.Context, in *Input) (*Ruleset, error)
}
