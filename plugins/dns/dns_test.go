package dns

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/skiff-sh/skiff/core/api"
)

type fakeSource struct {
	svcs map[string]*api.Service
	eps  map[string]*api.Endpoints
}

func (f fakeSource) Service(ns, name string) (*api.Service, bool) {
	s, ok := f.svcs[ns+"/"+name]
	return s, ok
}

func (f fakeSource) Endpoints(ns, name string) (*api.Endpoints, bool) {
	e, ok := f.eps[ns+"/"+name]
	return e, ok
}

// upstream is a fake resolver on loopback (UDP and TCP) answering every A
// query with 192.0.2.7.
func upstream(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)}}
		w.WriteMsg(m)
	})
	udp, tcp := &mdns.Server{PacketConn: pc, Handler: handler}, &mdns.Server{Listener: ln, Handler: handler}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func startServer(t *testing.T) *Server {
	src := fakeSource{
		svcs: map[string]*api.Service{
			"default/web": {ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}, Spec: api.ServiceSpec{ClusterIP: "10.96.0.20",
				Ports: []api.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}}}},
			"db/pg": {ObjectMeta: api.ObjectMeta{Name: "pg", Namespace: "db"}, Spec: api.ServiceSpec{ClusterIP: "None"}},
		},
		eps: map[string]*api.Endpoints{"db/pg": {Subsets: []api.EndpointSubset{{
			Addresses:         []api.EndpointAddress{{IP: "10.244.1.4"}, {IP: "10.244.2.9"}},
			NotReadyAddresses: []api.EndpointAddress{{IP: "10.244.3.3"}},
		}}}},
	}
	s, err := NewServer(Config{Listen: "127.0.0.1:0", Upstreams: []string{upstream(t)}}, src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

func query(t *testing.T, s *Server, network, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 3 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	resp, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s %s over %s: %v", mdns.TypeToString[qtype], name, network, err)
	}
	return resp
}

func answers(m *mdns.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *mdns.A:
			out = append(out, r.A.String())
		case *mdns.SRV:
			out = append(out, r.Target+":"+itoa(r.Port))
		}
	}
	return strings.Join(out, ",")
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestClusterNames(t *testing.T) {
	s := startServer(t)
	for _, network := range []string{"udp", "tcp"} {
		cases := []struct {
			name  string
			qtype uint16
			rcode int
			want  string
		}{
			{"web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, "10.96.0.20"},
			{"WEB.Default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, "10.96.0.20"},
			{"pg.db.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, "10.244.1.4,10.244.2.9"}, // ready only
			{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess, "web.default.svc.cluster.local.:80"},
			{"10-244-1-4.db.pod.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, "10.244.1.4"},
			{"web.default.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, ""},
			{"nope.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, ""},
			{"_grpc._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, ""},
			{"a.b.c.cluster.local.", mdns.TypeA, mdns.RcodeNameError, ""},
			{"example.com.", mdns.TypeA, mdns.RcodeSuccess, "192.0.2.7"}, // forwarded
		}
		for _, c := range cases {
			resp := query(t, s, network, c.name, c.qtype)
			if resp.Rcode != c.rcode || answers(resp) != c.want {
				t.Errorf("%s %s %s: rcode %s answers %q; want %s %q", network, mdns.TypeToString[c.qtype], c.name,
					mdns.RcodeToString[resp.Rcode], answers(resp), mdns.RcodeToString[c.rcode], c.want)
			}
			if strings.HasSuffix(c.name, "cluster.local.") && !resp.Authoritative {
				t.Errorf("%s: cluster answers must be authoritative", c.name)
			}
		}
	}
}

func TestForwardFailureIsServfail(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.LocalAddr().String()
	dead.Close()
	s, err := NewServer(Config{Listen: "127.0.0.1:0", Upstreams: []string{addr}, ForwardTimeout: 200 * time.Millisecond}, fakeSource{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	if resp := query(t, s, "udp", "example.com.", mdns.TypeA); resp.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", mdns.RcodeToString[resp.Rcode])
	}
}

func TestResolvConfAndServiceIP(t *testing.T) {
	want := "nameserver 10.96.0.10\nsearch web.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	if got := ResolvConf("10.96.0.10", "web", ""); got != want {
		t.Fatalf("resolv.conf:\n%s", got)
	}
	if ip, err := ServiceIP("10.96.0.0/12"); err != nil || ip != "10.96.0.10" {
		t.Fatalf("ServiceIP = %s, %v", ip, err)
	}
	if _, err := ServiceIP("10.96.0.0/30"); err == nil {
		t.Fatal("a range without a tenth address must be refused")
	}
}

func TestFreeBindListensBeforeTheAddressExists(t *testing.T) {
	// 192.0.2.0/24 is TEST-NET-1: never configured on a host, like the
	// bridge gateway before the first pod.
	if _, err := NewServer(Config{Listen: "192.0.2.53:0", Upstreams: []string{"127.0.0.1:53"}}, fakeSource{}); err == nil {
		t.Fatal("binding an address the host does not have must fail without FreeBind")
	}
	s, err := NewServer(Config{Listen: "192.0.2.53:0", Upstreams: []string{"127.0.0.1:53"}, FreeBind: true}, fakeSource{})
	if err != nil {
		t.Fatalf("FreeBind: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if host, _, _ := net.SplitHostPort(s.Addr()); host != "192.0.2.53" {
		t.Fatalf("Addr() = %s, want 192.0.2.53:<port>", s.Addr())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
