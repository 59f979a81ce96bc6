package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/skiff-sh/skiff/test/images"
)

// testNetwork returns a network on a random /24 and bridge name, torn down
// when the test ends.
func testNetwork(t *testing.T) *Network {
	t.Helper()
	images.RequireHost(t, "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "iptables")
	third := 100 + rand.IntN(150)
	n, err := New(Config{
		Subnet:      fmt.Sprintf("10.231.%d.0/24", third),
		DataDir:     t.TempDir(),
		Bridge:      fmt.Sprintf("skt%d", rand.IntN(1_000_000)),
		Network:     "skiff-test",
		NetNSPrefix: fmt.Sprintf("skiff-test%d-", rand.IntN(1000)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return n
}

// serveInNetNS listens on port 8080 inside the namespace at path and
// answers every request with body.
func serveInNetNS(t *testing.T, path, body string) {
	t.Helper()
	lc := make(chan net.Listener, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in the pod's namespace
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		l, err := net.Listen("tcp", ":8080")
		if err != nil {
			errc <- err
			return
		}
		lc <- l
	}()
	var l net.Listener
	select {
	case err := <-errc:
		t.Fatalf("listen in %s: %v", path, err)
	case l = <-lc:
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func get(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestAttachServeRecoverDetach(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	podA := PodRef{UID: "0f0e0d0c-aaaa-4bbb-8ccc-000000000001", Namespace: "default", Name: "a"}
	podB := PodRef{UID: "0f0e0d0c-aaaa-4bbb-8ccc-000000000002", Namespace: "default", Name: "b"}

	a, err := n.Attach(ctx, podA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Attach(ctx, podB)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.Equal(b.IP) {
		t.Fatalf("two pods got the same IP %s", a.IP)
	}
	_, subnet, _ := net.ParseCIDR(n.cfg.Subnet)
	for _, at := range []Attachment{a, b} {
		if !subnet.Contains(at.IP) {
			t.Fatalf("pod IP %s outside the node subnet %s", at.IP, subnet)
		}
		if !isNetNS(at.NetNSPath) {
			t.Fatalf("%s is not a mounted network namespace", at.NetNSPath)
		}
		if _, err := os.Stat(filepath.Join(n.IPAMDir(), at.IP.String())); err != nil {
			t.Fatalf("host-local has no lease for %s: %v", at.IP, err)
		}
	}
	if link, err := netlink.LinkByName(n.cfg.Bridge); err != nil || link.Attrs().MTU != DefaultMTU {
		t.Fatalf("bridge %s: %v (link %+v)", n.cfg.Bridge, err, link)
	}

	// The host reaches a pod through the bridge.
	serveInNetNS(t, a.NetNSPath, "hello from a")
	if got := get(t, "http://"+a.IP.String()+":8080/"); got != "hello from a" {
		t.Fatalf("GET pod a = %q", got)
	}

	// Attach is idempotent: the same pod keeps its address.
	again, err := n.Attach(ctx, podA)
	if err != nil || !again.IP.Equal(a.IP) {
		t.Fatalf("re-attach pod a = %v, %v; want %s", again.IP, err, a.IP)
	}

	// A new Network value (an agent that restarted) recovers the address
	// from the CNI cache, and by netns inspection when the cache is gone.
	restarted, err := New(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := restarted.Recover(ctx, podB.UID)
	if err != nil || !rec.IP.Equal(b.IP) {
		t.Fatalf("recover pod b = %v, %v; want %s", rec.IP, err, b.IP)
	}
	inspected, err := inspectNetNS(b.NetNSPath)
	if err != nil || !inspected.IP.Equal(b.IP) || !inspected.Gateway.Equal(b.Gateway) {
		t.Fatalf("inspect netns of pod b = %+v, %v; want ip %s gw %s", inspected, err, b.IP, b.Gateway)
	}

	// Detach releases the address and the namespace, and is idempotent.
	if err := n.Detach(ctx, podA.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(n.IPAMDir(), a.IP.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lease for %s still present after detach: %v", a.IP, err)
	}
	if _, err := os.Stat(a.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns %s still present after detach: %v", a.NetNSPath, err)
	}
	if err := n.Detach(ctx, podA.UID); err != nil {
		t.Fatalf("second detach: %v", err)
	}
	if _, err := n.Recover(ctx, podA.UID); !errors.Is(err, ErrNotAttached) {
		t.Fatalf("recover detached pod: err = %v, want ErrNotAttached", err)
	}
}

func TestTeardownRemovesBridgeAndLeases(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	a, err := n.Attach(ctx, PodRef{UID: "1f0e0d0c-aaaa-4bbb-8ccc-000000000001", Namespace: "default", Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(n.cfg.Bridge); err == nil {
		t.Fatalf("bridge %s still exists after teardown", n.cfg.Bridge)
	}
	if _, err := os.Stat(a.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns %s still present after teardown: %v", a.NetNSPath, err)
	}
	if _, err := os.Stat(n.IPAMDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("IPAM state %s still present after teardown: %v", n.IPAMDir(), err)
	}
	// Teardown of a torn-down network is a no-op.
	if err := n.Teardown(ctx); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
}

// An ADD waits for a free slot: with every slot taken, Attach gives up when
// its context ends and leaves no namespace behind; a freed slot lets it in.
func TestAttachWaitsForAnADDSlot(t *testing.T) {
	n := testNetwork(t)
	for range cap(n.adds) {
		n.adds <- struct{}{}
	}
	pod := PodRef{UID: fmt.Sprintf("slot-%d", rand.IntN(1_000_000)), Namespace: "default", Name: "slot"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := n.Attach(ctx, pod)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "ADD slot") {
		t.Fatalf("attach with every slot taken: err = %v, want an ADD-slot timeout", err)
	}
	if isNetNS(n.NetNSPath(pod.UID)) {
		t.Fatalf("namespace %s left behind by the failed attach", n.NetNSPath(pod.UID))
	}
	<-n.adds
	att, err := n.Attach(context.Background(), pod)
	if err != nil {
		t.Fatalf("attach with a free slot: %v", err)
	}
	if att.IP == nil {
		t.Fatalf("attachment %+v has no IP", att)
	}
	if err := n.Detach(context.Background(), pod.UID); err != nil {
		t.Fatal(err)
	}
	for len(n.adds) > 0 {
		<-n.adds
	}
}
