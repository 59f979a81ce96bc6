// Package dns is skiff's cluster DNS: it answers names in the cluster domain
// from the Service and Endpoints informers and forwards every other name to
// the host's resolvers. See README.md for how pods reach it.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Source is what the server answers from.
type Source interface {
	Service(namespace, name string) (*api.Service, bool)
	Endpoints(namespace, name string) (*api.Endpoints, bool)
}

// InformerSource reads Services and Endpoints from informers' caches.
func InformerSource(services, endpoints *reconcile.Informer) Source {
	return informerSource{svcs: reconcile.NewLister[*api.Service](services), eps: reconcile.NewLister[*api.Endpoints](endpoints)}
}

type informerSource struct {
	svcs reconcile.Lister[*api.Service]
	eps  reconcile.Lister[*api.Endpoints]
}

func (s informerSource) Service(ns, name string) (*api.Service, bool)     { return s.svcs.Get(ns, name) }
func (s informerSource) Endpoints(ns, name string) (*api.Endpoints, bool) { return s.eps.Get(ns, name) }

// Config configures a Server.
type Config struct {
	// Listen is the UDP and TCP address, e.g. 10.244.1.1:53 (the node's
	// bridge gateway) or 127.0.0.1:0 in tests.
	Listen string
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Upstreams are the resolvers ("ip:port") other names go to; empty
	// reads the nameservers of ResolvConfPath.
	Upstreams []string
	// ResolvConfPath is the host's resolver configuration (default
	// /etc/resolv.conf).
	ResolvConfPath string
	// TTL of cluster answers in seconds (default 5: services change).
	TTL uint32
	// ForwardTimeout bounds one upstream exchange (default 2s).
	ForwardTimeout time.Duration
	// FreeBind binds Listen even when its address is not configured on the
	// host yet (IP_FREEBIND): an agent starts its server on the bridge
	// gateway before the first pod creates the bridge.
	FreeBind bool
	Log      *slog.Logger
}

// Server answers DNS over UDP and TCP.
type Server struct {
	cfg  Config
	src  Source
	zone string // "cluster.local."
	log  *slog.Logger
	udp  net.PacketConn
	tcp  net.Listener
}

// NewServer binds the UDP and TCP sockets; Run serves them.
func NewServer(cfg Config, src Source) (*Server, error) {
	if src == nil {
		return nil, errors.New("dns: a Source is required (e.g. dns.InformerSource)")
	}
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Upstreams) == 0 {
		path := cfg.ResolvConfPath
		if path == "" {
			path = "/etc/resolv.conf"
		}
		rc, err := mdns.ClientConfigFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("dns: reading upstream resolvers from %s: %w (set Upstreams)", path, err)
		}
		for _, s := range rc.Servers {
			cfg.Upstreams = append(cfg.Upstreams, net.JoinHostPort(s, rc.Port))
		}
	}
	s := &Server{cfg: cfg, src: src, zone: mdns.Fqdn(strings.ToLower(cfg.Domain)), log: cfg.Log.With("component", "dns")}
	var lc net.ListenConfig
	if cfg.FreeBind {
		lc.Control = freeBind
	}
	var err error
	if s.udp, err = lc.ListenPacket(context.Background(), "udp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("dns: listen udp %s: %w", cfg.Listen, err)
	}
	// TCP on the port UDP got, so ":0" gives one port for both.
	if s.tcp, err = lc.Listen(context.Background(), "tcp", s.udp.LocalAddr().String()); err != nil {
		s.udp.Close()
		return nil, fmt.Errorf("dns: listen tcp %s: %w", s.udp.LocalAddr(), err)
	}
	return s, nil
}

// freeBind sets IP_FREEBIND on a socket before it binds.
func freeBind(_, _ string, c syscall.RawConn) error {
	var sockErr error
	if err := c.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	}); err != nil {
		return err
	}
	if sockErr != nil {
		return fmt.Errorf("set IP_FREEBIND: %w", sockErr)
	}
	return nil
}

// Addr is the address the server answers on.
func (s *Server) Addr() string { return s.udp.LocalAddr().String() }

// Run serves until ctx ends, then closes the sockets.
func (s *Server) Run(ctx context.Context) error {
	handler := mdns.HandlerFunc(s.serveDNS)
	udp := &mdns.Server{PacketConn: s.udp, Handler: handler}
	tcp := &mdns.Server{Listener: s.tcp, Handler: handler}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("dns: serving on %s: %w", s.Addr(), err)
	}
	udp.Shutdown()
	tcp.Shutdown()
	return err
}

func (s *Server) serveDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	if len(req.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeFormatError)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if name != s.zone && !strings.HasSuffix(name, "."+s.zone) {
		s.forward(w, req)
		return
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	answers, found := s.lookup(strings.TrimSuffix(strings.TrimSuffix(name, s.zone), "."), q)
	m.Answer = answers
	if !found {
		m.Rcode = mdns.RcodeNameError
	}
	if len(answers) == 0 {
		m.Ns = []mdns.RR{s.soa()}
	}
	w.WriteMsg(m)
}

// lookup answers q for name relative to the zone (e.g. "web.default.svc");
// found is false for a name that does not exist (NXDOMAIN).
func (s *Server) lookup(rel string, q mdns.Question) (rrs []mdns.RR, found bool) {
	labels := strings.Split(rel, ".")
	n := len(labels)
	switch {
	case rel == "" || rel == "svc" || rel == "pod" || n == 2 && (labels[1] == "svc" || labels[1] == "pod"):
		return nil, true // the zone and its namespaces exist, holding no records themselves
	case n == 3 && labels[2] == "pod":
		ip, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
		if err != nil || !ip.Is4() {
			return nil, false
		}
		if q.Qtype == mdns.TypeA {
			rrs = append(rrs, s.a(q.Name, ip.String()))
		}
		return rrs, true
	case n == 3 && labels[2] == "svc":
		svc, ok := s.src.Service(labels[1], labels[0])
		if !ok {
			return nil, false
		}
		if q.Qtype == mdns.TypeA {
			for _, ip := range s.serviceIPs(svc) {
				rrs = append(rrs, s.a(q.Name, ip))
			}
		}
		if q.Qtype == mdns.TypeCNAME && svc.Spec.Type == "ExternalName" {
			rrs = append(rrs, &mdns.CNAME{Hdr: s.hdr(q.Name, mdns.TypeCNAME), Target: mdns.Fqdn(svc.Spec.ExternalName)})
		}
		return rrs, true
	case n == 5 && labels[4] == "svc" && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_"):
		svc, ok := s.src.Service(labels[3], labels[2])
		if !ok {
			return nil, false
		}
		portName, proto := labels[0][1:], labels[1][1:]
		for _, p := range svc.Spec.Ports {
			if p.Name == "" || p.Name != portName || !strings.EqualFold(p.Protocol, proto) {
				continue
			}
			if q.Qtype == mdns.TypeSRV {
				target := svc.Name + "." + svc.Namespace + ".svc." + s.zone
				rrs = append(rrs, &mdns.SRV{Hdr: s.hdr(q.Name, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: target})
			}
			return rrs, true
		}
		return nil, false
	}
	return nil, false
}

// serviceIPs is the cluster IP, or the ready endpoints of a headless
// service.
func (s *Server) serviceIPs(svc *api.Service) []string {
	switch svc.Spec.ClusterIP {
	case "":
		return nil
	case "None":
		ep, ok := s.src.Endpoints(svc.Namespace, svc.Name)
		if !ok {
			return nil
		}
		var ips []string
		seen := map[string]bool{}
		for _, sub := range ep.Subsets {
			for _, a := range sub.Addresses {
				if !seen[a.IP] {
					seen[a.IP] = true
					ips = append(ips, a.IP)
				}
			}
		}
		return ips
	}
	return []string{svc.Spec.ClusterIP}
}

func (s *Server) hdr(name string, typ uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: typ, Class: mdns.ClassINET, Ttl: s.cfg.TTL}
}

func (s *Server) a(name, ip string) mdns.RR {
	return &mdns.A{Hdr: s.hdr(name, mdns.TypeA), A: net.ParseIP(ip).To4()}
}

func (s *Server) soa() mdns.RR {
	return &mdns.SOA{Hdr: s.hdr(s.zone, mdns.TypeSOA), Ns: "ns.dns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: uint32(time.Now().Unix()), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.cfg.TTL}
}

// forward relays a query outside the cluster domain to the upstreams in
// turn over the transport it came on.
func (s *Server) forward(w mdns.ResponseWriter, req *mdns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &mdns.Client{Net: network, Timeout: s.cfg.ForwardTimeout}
	var lastErr error
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.Exchange(req, up)
		if err == nil {
			resp.Id = req.Id
			w.WriteMsg(resp)
			return
		}
		lastErr = err
	}
	s.log.Warn("dns: forwarding failed", "name", req.Question[0].Name, "upstreams", s.cfg.Upstreams, "err", lastErr)
	m := new(mdns.Msg)
	m.SetRcode(req, mdns.RcodeServerFailure)
	w.WriteMsg(m)
}

// ResolvConf is the /etc/resolv.conf of a pod in namespace, with the
// cluster DNS at nameserver (the skiff-dns Service IP).
func ResolvConf(nameserver, namespace, domain string) string {
	if domain == "" {
		domain = "cluster.local"
	}
	return "nameserver " + nameserver + "\n" +
		"search " + namespace + ".svc." + domain + " svc." + domain + " " + domain + "\n" +
		"options ndots:5\n"
}

// ServiceIP is the cluster DNS Service's address: the tenth address of the
// service CIDR (10.96.0.10 for 10.96.0.0/12), as Kubernetes conventionally
// uses.
func ServiceIP(serviceCIDR string) (string, error) {
	pfx, err := netip.ParsePrefix(serviceCIDR)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 28 {
		return "", fmt.Errorf("dns: service CIDR %q: want an IPv4 CIDR of at least 16 addresses, e.g. 10.96.0.0/12", serviceCIDR)
	}
	b := pfx.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + 10
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), nil
}
