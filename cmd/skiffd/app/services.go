package app

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/skiff-sh/skiff/core/apiserver"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/dns"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
)

// ServicesConfig is the service network (key "services"): the API server
// allocates cluster IPs and NodePorts from it, and every node's agent
// proxies them and tells pods where the cluster DNS is.
type ServicesConfig struct {
	// CIDR holds cluster IPs; its first address is the `skiff` Service (the
	// API server), its tenth the cluster DNS.
	CIDR string `koanf:"cidr"`
	// NodePortRange is "first-last".
	NodePortRange string `koanf:"node-port-range"`
	// ClusterDomain is the DNS suffix of Services (<svc>.<ns>.svc.DOMAIN).
	ClusterDomain string `koanf:"cluster-domain"`
}

// DNSConfig is the cluster DNS (key "dns").
type DNSConfig struct {
	// Enabled runs a DNS server on every node and points pods at it.
	Enabled bool `koanf:"enabled"`
}

func defaultServicesConfig() ServicesConfig {
	return ServicesConfig{CIDR: "10.96.0.0/12", NodePortRange: "30000-32767", ClusterDomain: "cluster.local"}
}

func (s *ServicesConfig) validate() error {
	pfx, err := netip.ParsePrefix(s.CIDR)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 28 {
		return fmt.Errorf("services.cidr: %q must be an IPv4 CIDR of at least 16 addresses (the cluster DNS takes the tenth), e.g. 10.96.0.0/12", s.CIDR)
	}
	lo, hi, ok := strings.Cut(s.NodePortRange, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return fmt.Errorf("services.node-port-range: %q must be \"first-last\" within 1-65535, e.g. 30000-32767", s.NodePortRange)
	}
	if s.ClusterDomain == "" || strings.HasPrefix(s.ClusterDomain, ".") || strings.HasSuffix(s.ClusterDomain, ".") {
		return fmt.Errorf("services.cluster-domain: %q must be a domain without leading or trailing dots, e.g. cluster.local", s.ClusterDomain)
	}
	return nil
}

// network is the API server's part.
func (s *ServicesConfig) network() apiserver.ServiceNetwork {
	return apiserver.ServiceNetwork{CIDR: s.CIDR, NodePortRange: s.NodePortRange}
}

// nodeServices is the agent's part: the builtin iptables proxy and, when
// enabled, the cluster DNS on the node's bridge gateway. The address may not
// exist until the first pod creates the bridge, hence FreeBind.
func nodeServices(s ServicesConfig, d DNSConfig) (*node.ServicesConfig, error) {
	out := &node.ServicesConfig{Proxy: &iptables.Planner{}}
	if !d.Enabled {
		return out, nil
	}
	ip, err := dns.ServiceIP(s.CIDR)
	if err != nil {
		return nil, fmt.Errorf("services.cidr: %w", err)
	}
	out.DNSServiceIP = ip
	out.DNS = func(listen string, services, endpoints *reconcile.Informer) (node.DNSServer, error) {
		return dns.NewServer(dns.Config{Listen: listen, Domain: s.ClusterDomain, FreeBind: true}, dns.InformerSource(services, endpoints))
	}
	return out, nil
}

// addServiceFlags gives `skiffd agent` the keys it shares with the server.
func addServiceFlags(f *pflag.FlagSet, s *ServicesConfig, d *DNSConfig) {
	f.StringVar(&s.CIDR, "service-cidr", s.CIDR, "cluster IP range (services.cidr; must match the server's): the DNS is its tenth address")
	f.StringVar(&s.ClusterDomain, "cluster-domain", s.ClusterDomain, "DNS domain of Services (services.cluster-domain)")
	f.BoolVar(&d.Enabled, "dns", d.Enabled, "run the cluster DNS on this node and point pods at it (dns.enabled)")
}

// defaultNodeName sets NodeName to the hostname when empty.
func (cfg *AgentConfig) defaultNodeName() error {
	if cfg.NodeName != "" {
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("agent.node-name: not set and the hostname is unknown: %w", err)
	}
	cfg.NodeName = host
	return nil
}
