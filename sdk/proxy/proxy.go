// Package proxy is the proxy.v1 contract: the plugin turns services and their
// ready endpoints into a ruleset; the host syncs the ruleset to the node
// (e.g. with iptables-restore) and owns the chains it names.
package proxy

import "context"

// Port is one service port and where it goes on the endpoints.
type Port struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol"` // TCP, UDP or SCTP
	Port       int32  `json:"port"`
	TargetPort int32  `json:"targetPort"`
	NodePort   int32  `json:"nodePort,omitempty"`
}

// Service is a virtual IP with its ready endpoints.
type Service struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ClusterIP string `json:"clusterIP"`
	Ports     []Port `json:"ports"`
	// Endpoints are the ready backend IPs.
	Endpoints []string `json:"endpoints"`
	// SessionAffinity is "ClientIP" or "" (none).
	SessionAffinity string `json:"sessionAffinity,omitempty"`
}

// Input is every service the node must proxy.
type Input struct {
	NodeName string    `json:"nodeName"`
	NodeIP   string    `json:"nodeIP"`
	Services []Service `json:"services"`
}

// Chain is one chain of a table with its rules in iptables-restore syntax
// (without the leading "-A <chain>").
type Chain struct {
	Table string   `json:"table"`
	Name  string   `json:"name"`
	Rules []string `json:"rules"`
}

// Ruleset is the complete state of the chains the plugin owns; Jumps are
// rules the host inserts into built-in chains (e.g. PREROUTING) to enter them.
type Ruleset struct {
	Chains []Chain `json:"chains"`
	Jumps  []Chain `json:"jumps,omitempty"`
}

// Plugin computes the proxy ruleset.
type Plugin interface {
	Rules(ctx context.Context, in Input) (Ruleset, error)
}
