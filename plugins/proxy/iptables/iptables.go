// Package iptables is the proxy planner that programs services the way
// kube-proxy's iptables mode does: a SKIFF-PROXY-SERVICES dispatch chain in
// the nat table (spreading cluster IPs over 64 SKIFF-PROXY-CLUSTERIPS-NN
// chains by their low bits, see dispatch.go), one SKIFF-PROXY-SVC-<hash>
// chain per service port that picks an endpoint at random, one
// SKIFF-PROXY-SEP-<hash> chain per endpoint that DNATs to it, and masquerade
// marking for traffic that would otherwise not return through this node. It
// only plans: core/node/proxy installs the ruleset.
package iptables

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/proxy"
)

// Chain names. Every chain the planner owns starts with Prefix, which no
// other part of skiff uses (the network fabric's chains are SKIFF-FABRIC-*,
// the bridge's SKIFF-MASQ-*): the host deletes any chain with the prefix
// that a ruleset does not list.
const (
	Prefix          = "SKIFF-PROXY-"
	ChainServices   = Prefix + "SERVICES"
	ChainNodePorts  = Prefix + "NODEPORTS"
	ChainMarkMasq   = Prefix + "MARK-MASQ"
	ChainPostrout   = Prefix + "POSTROUTING"
	ChainForward    = Prefix + "FORWARD"
	svcChainPrefix  = Prefix + "SVC-"
	sepChainPrefix  = Prefix + "SEP-"
	defaultMasqBit  = 14
	tableNAT        = "nat"
	tableFilter     = "filter"
	maxChainNameLen = 28 // iptables' limit
)

// Descriptor names the planner at the proxy point.
var Descriptor = sdk.NewDescriptor("iptables", sdk.PointProxy)

// Planner computes iptables rulesets. It has no state and no arguments.
type Planner struct{}

var _ proxy.Plugin = (*Planner)(nil)

// New is the factory shared by the builtin, process and WASM builds.
func New(args sdk.Args, _ sdk.Handle) (any, error) {
	var none struct{}
	if err := args.Decode(&none); err != nil {
		return nil, fmt.Errorf("proxy plugin iptables: %w (it takes no arguments)", err)
	}
	return &Planner{}, nil
}

// Rules implements proxy.Plugin.
func (*Planner) Rules(_ context.Context, in *proxy.Input) (*proxy.Ruleset, error) {
	return Plan(in)
}

// Plan is the planner as a plain function.
func Plan(in *proxy.Input) (*proxy.Ruleset, error) {
	p, err := newPlan(in)
	if err != nil {
		return nil, err
	}
	chains, rules := 0, 0
	for i := range in.Services {
		for j := range in.Services[i].Ports {
			n := len(in.Services[i].Ports[j].Endpoints)
			chains += 1 + n
			rules += 1 + 4*n // a bound: affinity adds one rule per endpoint
		}
	}
	p.chains = make([]proxy.Chain, 0, chains)
	p.slab = make([]string, 0, rules)
	for i := range in.Services {
		if err := p.service(&in.Services[i]); err != nil {
			return nil, err
		}
	}
	return p.finish(), nil
}

type plan struct {
	in        *proxy.Input
	notLocal  string // "! -s <cluster CIDR> " or "" when no CIDR is set
	markMasq  string
	nodeIPs   []string
	services  []dispatch // nat SKIFF-PROXY-CLUSTERIPS-*
	nodePorts []dispatch // nat SKIFF-PROXY-NODEPORTS
	rejects   []string   // filter SKIFF-SERVICES
	chains    []proxy.Chain
	slab      []string // backing store of the SVC and SEP chains' rules: one allocation
}

// rules returns an empty slice of capacity n carved from the plan's slab.
func (p *plan) rules(n int) []string {
	if cap(p.slab)-len(p.slab) < n {
		p.slab = make([]string, 0, max(n, 1024))
	}
	r := p.slab[len(p.slab) : len(p.slab) : len(p.slab)+n]
	p.slab = p.slab[:len(p.slab)+n]
	return r
}

func newPlan(in *proxy.Input) (*plan, error) {
	bit := in.MasqueradeBit
	if bit == 0 {
		bit = defaultMasqBit
	}
	if bit < 0 || bit > 31 {
		return nil, fmt.Errorf("proxy input: masqueradeBit: must be 0-31, got %d", in.MasqueradeBit)
	}
	p := &plan{in: in, markMasq: fmt.Sprintf("0x%x", uint32(1)<<bit)}
	if in.ClusterCIDR != "" {
		pfx, err := netip.ParsePrefix(in.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("proxy input: clusterCIDR: %q is not a CIDR (e.g. 10.244.0.0/16): %v", in.ClusterCIDR, err)
		}
		p.notLocal = "! -s " + pfx.Masked().String() + " "
	}
	for _, ip := range in.NodeIPs {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("proxy input: nodeIPs: %q is not an IPv4 address", ip)
		}
		p.nodeIPs = append(p.nodeIPs, a.String())
	}
	return p, nil
}

func (p *plan) service(svc *proxy.Service) error {
	where := serviceRef{svc}
	vip, err := netip.ParseAddr(svc.ClusterIP)
	if err != nil || !vip.Is4() {
		return fmt.Errorf("%s: clusterIP: %q is not an IPv4 address (headless services are not proxied)", where, svc.ClusterIP)
	}
	for i := range svc.Ports {
		port := &svc.Ports[i]
		proto := lowerProtocol(port.Protocol)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return fmt.Errorf("%s: ports[%d].protocol: must be TCP, UDP or SCTP, got %q", where, i, port.Protocol)
		}
		portName := svc.Namespace + "/" + svc.Name + ":" + port.Name
		if strings.ContainsFunc(portName, unsafeInComment) {
			return fmt.Errorf("%s: ports[%d]: name %q may only hold lowercase letters, digits, '-' and '.'", where, i, portName)
		}
		if port.Port < 1 || port.Port > 65535 || port.NodePort < 0 || port.NodePort > 65535 {
			return fmt.Errorf("%s: ports[%d]: port %d / nodePort %d out of range 1-65535", where, i, port.Port, port.NodePort)
		}
		for j, ep := range port.Endpoints {
			if a, err := netip.ParseAddr(ep.IP); err != nil || !a.Is4() || a.String() != ep.IP || ep.Port < 1 || ep.Port > 65535 {
				return fmt.Errorf("%s: ports[%d].endpoints[%d]: %q:%d is not an IPv4 address and port", where, i, j, ep.IP, ep.Port)
			}
		}
		if len(port.Endpoints) == 0 {
			// No ready endpoint: refuse new connections at once rather than
			// letting clients wait for a SYN that goes nowhere.
			p.rejects = append(p.rejects, fmt.Sprintf("-d %s/32 -p %s -m comment --comment \"%s has no endpoints\" -m %s --dport %d -j REJECT --reject-with icmp-port-unreachable",
				vip, proto, portName, proto, port.Port))
			if port.NodePort != 0 {
				for _, ip := range p.nodeIPs {
					p.rejects = append(p.rejects, fmt.Sprintf("-d %s/32 -p %s -m comment --comment \"%s has no endpoints\" -m %s --dport %d -j REJECT --reject-with icmp-port-unreachable",
						ip, proto, portName, proto, port.NodePort))
				}
			}
			continue
		}
		svcChain := chainName(svcChainPrefix, portName+"/"+proto)
		p.services = append(p.services, dispatch{svcChain, "-d " + vip.String() + "/32 -p " + proto + " -m comment --comment \"" + portName + " cluster IP\" -m " + proto +
			" --dport " + strconv.Itoa(int(port.Port)), shardOf(vip)})
		if port.NodePort != 0 {
			p.nodePorts = append(p.nodePorts, dispatch{svcChain, "-p " + proto + " -m " + proto + " --dport " + strconv.Itoa(int(port.NodePort)), 0})
		}
		p.endpoints(svc, port, proto, portName, svcChain)
	}
	return nil
}

// endpoints writes the SVC chain of a port and one SEP chain per endpoint.
func (p *plan) endpoints(svc *proxy.Service, port *proxy.Port, proto, portName, svcChain string) {
	eps := uniqueEndpoints(port.Endpoints)
	n := len(eps)
	rules := p.rules(1 + 2*n)
	if p.notLocal != "" {
		rules = append(rules, p.notLocal+"-j "+ChainMarkMasq)
	}
	affinity := svc.SessionAffinity == "ClientIP"
	seconds := svc.AffinitySeconds
	if seconds <= 0 {
		seconds = 10800
	}
	sepChains := make([]string, n)
	for i, ep := range eps {
		sepChains[i] = chainName(sepChainPrefix, portName+"/"+proto+"/"+ep.IP+":"+strconv.Itoa(int(ep.Port)))
	}
	if affinity {
		for _, sep := range sepChains {
			rules = append(rules, fmt.Sprintf("-m recent --rcheck --seconds %d --reap --name %s --mask 255.255.255.255 --rsource -j %s", seconds, sep, sep))
		}
	}
	for i, sep := range sepChains {
		if left := n - i; left > 1 {
			rules = append(rules, "-m statistic --mode random --probability "+probability(left)+" -j "+sep)
		} else {
			rules = append(rules, "-j "+sep)
		}
	}
	p.chains = append(p.chains, proxy.Chain{Table: tableNAT, Name: svcChain, Rules: rules})
	for i, ep := range eps {
		sep := sepChains[i]
		recent := ""
		if affinity {
			recent = "-m recent --set --name " + sep + " --mask 255.255.255.255 --rsource "
		}
		p.chains = append(p.chains, proxy.Chain{Table: tableNAT, Name: sep, Rules: append(p.rules(2),
			// Hairpin: a pod reaching itself through its service must be
			// masqueraded, or it would answer its own address directly.
			"-s "+ep.IP+"/32 -j "+ChainMarkMasq,
			"-p "+proto+" "+recent+"-m "+proto+" -j DNAT --to-destination "+ep.IP+":"+strconv.Itoa(int(ep.Port)),
		)})
	}
}

// lowerProtocol is the protocol as iptables writes it, without an
// allocation for the usual spellings.
func lowerProtocol(p string) string {
	switch p {
	case "TCP", "tcp":
		return "tcp"
	case "UDP", "udp":
		return "udp"
	case "SCTP", "sctp":
		return "sctp"
	}
	return strings.ToLower(p)
}

// serviceRef names a service in errors, formatted only when one occurs.
type serviceRef struct{ svc *proxy.Service }

func (r serviceRef) String() string { return "service " + r.svc.Namespace + "/" + r.svc.Name }

// unsafeInComment reports a character that could break out of a quoted
// iptables comment.
func unsafeInComment(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-./:", r))
}

// uniqueEndpoints drops repeated endpoints, which would name one SEP chain
// twice.
func uniqueEndpoints(eps []proxy.Endpoint) []proxy.Endpoint {
	seen := make(map[proxy.Endpoint]bool, len(eps))
	out := eps[:0:0]
	for _, ep := range eps {
		if !seen[ep] {
			seen[ep] = true
			out = append(out, ep)
		}
	}
	return out
}

// probability is 1/n as iptables-save prints it: the kernel keeps it as a
// fraction of 2^31 and iptables prints that with 11 decimals.
func probability(n int) string {
	v := math.Round(float64(0x80000000) / float64(n))
	return strconv.FormatFloat(v/float64(0x80000000), 'f', 11, 64)
}

// chainName is prefix + base32 characters of a SHA-256 of key up to
// iptables' 28-character limit (12 for SVC and SEP chains: 60 bits), as
// kube-proxy names its chains: stable across restarts.
func chainName(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	var enc [16]byte // 10 bytes of the sum: 16 characters, more than the SVC/SEP prefixes leave
	base32.StdEncoding.Encode(enc[:], sum[:10])
	return prefix + string(enc[:maxChainNameLen-len(prefix)])
}

func (p *plan) finish() *proxy.Ruleset {
	services, shards := clusterIPChains(p.services)
	sortDispatch(p.nodePorts)
	nodePorts := make([]string, 0, 2*len(p.nodePorts))
	for _, d := range p.nodePorts {
		// NodePort traffic always comes from outside: masquerade it so
		// the endpoint's reply returns through this node.
		nodePorts = append(nodePorts, d.match+" -j "+ChainMarkMasq, d.match+" -j "+d.svcChain)
	}
	for _, ip := range p.nodeIPs {
		services = append(services, "-d "+ip+"/32 -j "+ChainNodePorts)
	}
	mark := p.markMasq + "/" + p.markMasq
	fixed := []proxy.Chain{
		{Table: tableNAT, Name: ChainServices, Rules: services},
		{Table: tableNAT, Name: ChainNodePorts, Rules: nodePorts},
		{Table: tableNAT, Name: ChainMarkMasq, Rules: []string{"-j MARK --set-xmark " + mark}},
		{Table: tableNAT, Name: ChainPostrout, Rules: []string{
			"-m mark ! --mark " + mark + " -j RETURN",
			"-j MARK --set-xmark " + p.markMasq + "/0x0", // clear the bit: a re-routed packet is not masqueraded twice
			"-j MASQUERADE",
		}},
		{Table: tableFilter, Name: ChainServices, Rules: p.rejects},
		// Forward what was DNATed to a service even when FORWARD's policy
		// is DROP (as Docker sets it).
		{Table: tableFilter, Name: ChainForward, Rules: []string{"-m mark --mark " + mark + " -j ACCEPT"}},
	}
	newConn := []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "skiff service rejects", "-j", ChainServices}
	return &proxy.Ruleset{
		Prefix: Prefix,
		Chains: slices.Concat(fixed, shards, p.chains),
		Jumps: []proxy.Jump{
			{Table: tableNAT, Chain: "PREROUTING", Args: []string{"-m", "comment", "--comment", "skiff service portals", "-j", ChainServices}},
			{Table: tableNAT, Chain: "OUTPUT", Args: []string{"-m", "comment", "--comment", "skiff service portals", "-j", ChainServices}},
			{Table: tableNAT, Chain: "POSTROUTING", Args: []string{"-m", "comment", "--comment", "skiff postrouting rules", "-j", ChainPostrout}},
			{Table: tableFilter, Chain: "INPUT", Args: newConn},
			{Table: tableFilter, Chain: "FORWARD", Args: newConn},
			{Table: tableFilter, Chain: "OUTPUT", Args: newConn},
			{Table: tableFilter, Chain: "FORWARD", Args: []string{"-m", "comment", "--comment", "skiff forwarding rules", "-j", ChainForward}},
		},
	}
}
