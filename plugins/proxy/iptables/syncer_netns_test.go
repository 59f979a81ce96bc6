package iptables_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/skiff-sh/skiff/core/node/proxy"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// lab is two network namespaces joined by a veth pair: "node" (10.200.0.1,
// where the rules are installed and clients run) and "pod" (10.200.0.2 and
// 10.200.0.3, running an HTTP server on :8080 as the service's endpoints).
type lab struct {
	node, pod string // names under /var/run/netns
}

const (
	nodeIP      = "10.200.0.1"
	podIP       = "10.200.0.2"
	podIP2      = "10.200.0.3"
	clusterCIDR = "10.200.0.0/24"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "iptables-save", "iptables-restore", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

func sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newLab(t *testing.T) *lab {
	needRoot(t)
	id := fmt.Sprintf("skfpx%d", os.Getpid()%100000)
	l := &lab{node: id + "n", pod: id + "p"}
	sh(t, "ip", "netns", "add", l.node)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.node).Run() })
	sh(t, "ip", "netns", "add", l.pod)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.pod).Run() })
	sh(t, "ip", "link", "add", "vn", "netns", l.node, "type", "veth", "peer", "name", "vp", "netns", l.pod)
	sh(t, "ip", "-n", l.node, "addr", "add", nodeIP+"/24", "dev", "vn")
	sh(t, "ip", "-n", l.pod, "addr", "add", podIP+"/24", "dev", "vp")
	sh(t, "ip", "-n", l.pod, "addr", "add", podIP2+"/24", "dev", "vp")
	for _, ns := range []string{l.node, l.pod} {
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", l.node, "link", "set", "vn", "up")
	sh(t, "ip", "-n", l.pod, "link", "set", "vp", "up")
	sh(t, "ip", "-n", l.pod, "route", "add", "default", "via", nodeIP)
	// Service IPs are routed nowhere; a default route (as real nodes have)
	// lets OUTPUT see the packet and DNAT it.
	sh(t, "ip", "-n", l.node, "route", "add", "default", "dev", "vn")
	sh(t, "ip", "netns", "exec", l.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return l
}

func nsPath(name string) string { return filepath.Join("/var/run/netns", name) }

// inNS runs fn on a thread inside the named namespace; sockets fn creates
// stay in it.
func inNS(t testing.TB, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err) // never let the thread go back to the pool in the wrong namespace
		}
	}()
	fn()
}

// serveHTTP runs an HTTP server on :8080 in the pod namespace answering
// with the address it was reached on.
func (l *lab) serveHTTP(t *testing.T) {
	var ln net.Listener
	inNS(t, l.pod, func() {
		var err error
		if ln, err = net.Listen("tcp", ":8080"); err != nil {
			t.Fatal(err)
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s to %s", r.RemoteAddr, r.Context().Value(http.LocalAddrContextKey))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// dial opens a TCP connection from namespace ns.
func dial(t testing.TB, ns, addr string) (net.Conn, error) {
	var conn net.Conn
	var err error
	inNS(t, ns, func() { conn, err = net.DialTimeout("tcp", addr, 3*time.Second) })
	return conn, err
}

// get sends one HTTP/1.1 request over conn and returns the body.
func get(conn net.Conn) (string, error) {
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: svc\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func fetch(t *testing.T, ns, addr string) string {
	t.Helper()
	conn, err := dial(t, ns, addr)
	if err != nil {
		t.Fatalf("connect to %s from %s: %v", addr, ns, err)
	}
	defer conn.Close()
	body, err := get(conn)
	if err != nil {
		t.Fatalf("GET http://%s from %s: %v", addr, ns, err)
	}
	return body
}

func (l *lab) syncer(t *testing.T) *proxy.Syncer {
	s, err := proxy.NewSyncer(proxy.Config{Planner: &iptables.Planner{}, NodeName: "n1", NodeIPs: []string{nodeIP},
		ClusterCIDR: clusterCIDR, Netns: nsPath(l.node)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func plan(t testing.TB, svcs ...sdkproxy.Service) *sdkproxy.Ruleset {
	t.Helper()
	rs, err := iptables.Plan(&sdkproxy.Input{NodeName: "n1", NodeIPs: []string{nodeIP}, ClusterCIDR: clusterCIDR, Services: svcs})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func webService(eps ...string) sdkproxy.Service {
	var endpoints []sdkproxy.Endpoint
	for _, ip := range eps {
		endpoints = append(endpoints, sdkproxy.Endpoint{IP: ip, Port: 8080})
	}
	return sdkproxy.Service{Namespace: "default", Name: "web", ClusterIP: "10.96.0.20", SessionAffinity: "ClientIP", AffinitySeconds: 60,
		Ports: []sdkproxy.Port{
			{Name: "http", Protocol: "TCP", Port: 80, NodePort: 30080, Endpoints: endpoints},
			{Name: "dns", Protocol: "UDP", Port: 53, Endpoints: endpoints},
		}}
}

var emptyService = sdkproxy.Service{Namespace: "default", Name: "empty", ClusterIP: "10.96.0.21",
	Ports: []sdkproxy.Port{{Protocol: "TCP", Port: 80, NodePort: 30081}}}

// wantInstalled checks that iptables-save shows exactly the ruleset's
// chains, rule for rule: the planner writes rules in iptables-save's own
// syntax, which is what lets a restart diff instead of rewrite.
func wantInstalled(t *testing.T, s *proxy.Syncer, rs *sdkproxy.Ruleset) {
	t.Helper()
	got, err := s.Installed(context.Background(), rs.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string][]string{}
	for _, c := range rs.Chains {
		if want[c.Table] == nil {
			want[c.Table] = map[string][]string{}
		}
		want[c.Table][c.Name] = c.Rules
	}
	for table, chains := range want {
		for name, rules := range chains {
			if !slices.Equal(got[table][name], rules) {
				t.Fatalf("%s %s installed as\n%s\nplanned as\n%s", table, name, strings.Join(got[table][name], "\n"), strings.Join(rules, "\n"))
			}
		}
	}
	for table, chains := range got {
		for name := range chains {
			if _, ok := want[table][name]; !ok {
				t.Fatalf("stale chain %s %s still installed", table, name)
			}
		}
	}
}

func TestSyncerInNetworkNamespace(t *testing.T) {
	l := newLab(t)
	l.serveHTTP(t)
	ctx := context.Background()
	s := l.syncer(t)

	rs := plan(t, webService(podIP, podIP2), emptyService)
	st, err := s.Apply(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	if !st.FullRead || st.ChainsWritten == 0 {
		t.Fatalf("first sync: %+v", st)
	}
	wantInstalled(t, s, rs)

	if body := fetch(t, l.node, "10.96.0.20:80"); !strings.Contains(body, "hello from") {
		t.Fatalf("cluster IP: %q", body)
	}
	if body := fetch(t, l.node, nodeIP+":30080"); !strings.Contains(body, "hello from "+nodeIP) {
		t.Fatalf("node port (masqueraded to the node's address): %q", body)
	}

	t.Run("no endpoints rejects at once", func(t *testing.T) {
		start := time.Now()
		_, err := dial(t, l.node, "10.96.0.21:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("want connection refused, got %v after %s", err, time.Since(start))
		}
		if _, err := dial(t, l.node, nodeIP+":30081"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("node port without endpoints: want connection refused, got %v", err)
		}
	})

	t.Run("restart keeps connections and rules", func(t *testing.T) {
		conn, err := dial(t, l.node, "10.96.0.20:80")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := get(conn); err != nil {
			t.Fatal(err)
		}
		restarted := l.syncer(t)
		st, err := restarted.Apply(ctx, plan(t, webService(podIP, podIP2), emptyService))
		if err != nil {
			t.Fatal(err)
		}
		if !st.FullRead || st.ChainsWritten != 0 || st.ChainsDeleted != 0 || st.JumpsInserted != 0 {
			t.Fatalf("a restart with the same services must write nothing: %+v", st)
		}
		if err := restarted.CheckJumps(ctx, rs); err != nil {
			t.Fatal(err)
		}
		wantInstalled(t, restarted, rs)
		if body, err := get(conn); err != nil || !strings.Contains(body, "hello") {
			t.Fatalf("established connection after restart: %q, %v", body, err)
		}
	})

	t.Run("removing an endpoint removes its rules", func(t *testing.T) {
		one := plan(t, webService(podIP), emptyService)
		st, err := s.Apply(ctx, one)
		if err != nil {
			t.Fatal(err)
		}
		// Both ports' SVC chains change and each loses one SEP chain.
		if st.ChainsWritten != 2 || st.ChainsDeleted != 2 {
			t.Fatalf("one endpoint removed: %+v", st)
		}
		wantInstalled(t, s, one)
		if body := fetch(t, l.node, "10.96.0.20:80"); !strings.Contains(body, podIP+":8080") {
			t.Fatalf("traffic must go to the remaining endpoint: %q", body)
		}
		// Hairpin: the endpoint reaches its own service through the node
		// (PREROUTING) and must see the node's address, not its own. (With
		// two endpoints in one namespace the reply would skip the node, a
		// quirk of this lab, so it is checked with one.)
		for range 3 {
			if body := fetch(t, l.pod, "10.96.0.20:80"); !strings.Contains(body, "hello from "+nodeIP) {
				t.Fatalf("hairpin: %q", body)
			}
		}
		none := plan(t, webService(), emptyService)
		if _, err := s.Apply(ctx, none); err != nil {
			t.Fatal(err)
		}
		wantInstalled(t, s, none)
		if _, err := dial(t, l.node, "10.96.0.20:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("after the last endpoint left: want connection refused, got %v", err)
		}
	})

	t.Run("repairs chains changed behind its back", func(t *testing.T) {
		sh(t, "ip", "netns", "exec", l.node, "iptables", "-t", "nat", "-F", iptables.ChainServices)
		sh(t, "ip", "netns", "exec", l.node, "iptables", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "skiff service portals", "-j", iptables.ChainServices)
		fresh := l.syncer(t) // a resync (here: a fresh syncer) re-reads
		one := plan(t, webService(podIP), emptyService)
		if _, err := fresh.Apply(ctx, one); err != nil {
			t.Fatal(err)
		}
		wantInstalled(t, fresh, one)
		if err := fresh.CheckJumps(ctx, one); err != nil {
			t.Fatal(err)
		}
		body := fetch(t, l.pod, "10.96.0.20:80") // through PREROUTING again
		if !strings.Contains(body, "hello") {
			t.Fatalf("after repair: %q", body)
		}
	})

	t.Run("a large sync is split into working steps", func(t *testing.T) {
		// 400 more services: 1,200 chains, more than one transaction takes.
		svcs := []sdkproxy.Service{webService(podIP), emptyService}
		for i := range 400 {
			svcs = append(svcs, sdkproxy.Service{Namespace: "bulk", Name: fmt.Sprintf("s%d", i), ClusterIP: fmt.Sprintf("10.97.%d.%d", i/200, i%200+1),
				Ports: []sdkproxy.Port{{Name: "http", Protocol: "TCP", Port: 80, Endpoints: []sdkproxy.Endpoint{{IP: podIP, Port: 8080}, {IP: podIP2, Port: 8080}}}}})
		}
		big := plan(t, svcs...)
		st, err := s.Apply(ctx, big)
		if err != nil {
			t.Fatal(err)
		}
		if st.Commits < 3 || st.ChainsWritten < 1200 {
			t.Fatalf("large sync: %+v", st)
		}
		wantInstalled(t, s, big)
		for _, vip := range []string{"10.97.0.1:80", "10.97.1.200:80", "10.96.0.20:80"} {
			if body := fetch(t, l.node, vip); !strings.Contains(body, "hello") {
				t.Fatalf("%s after a split sync: %q", vip, body)
			}
		}
		// And back: 1,200 stale chains deleted over several transactions.
		one := plan(t, webService(podIP), emptyService)
		if st, err = s.Apply(ctx, one); err != nil {
			t.Fatal(err)
		}
		if st.Commits < 3 || st.ChainsDeleted < 1200 {
			t.Fatalf("large removal: %+v", st)
		}
		wantInstalled(t, s, one)
		if body := fetch(t, l.node, "10.96.0.20:80"); !strings.Contains(body, "hello") {
			t.Fatalf("cluster IP after a large removal: %q", body)
		}
	})

	t.Run("teardown removes every chain and jump", func(t *testing.T) {
		if err := s.Teardown(ctx, iptables.Prefix); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ip", "netns", "exec", l.node, "iptables-save").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "SKIFF") {
			t.Fatalf("after teardown:\n%s", out)
		}
		if err := s.Teardown(ctx, iptables.Prefix); err != nil {
			t.Fatalf("a second teardown must be a no-op: %v", err)
		}
	})
}
