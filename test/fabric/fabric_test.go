// Tests of core/node/fabric on real network namespaces. They live outside
// core because the namespace helpers (test/harness) build pod networks with
// a plugin, and core must not depend on plugins, even in tests.
package fabric_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/core/node/fabric"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/test/harness"
)

// testNS is a fresh namespace with an uplink-like bridge (no dummy module here) at 172.31.0.1/24
// (the VXLAN local address), removed when the test ends.
func testNS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	path, err := harness.NewNetNS(fmt.Sprintf("skf-%05x", rand.IntN(1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { harness.DeleteNetNS(path) })
	err = fabric.InNetNS(path, func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "uplink"
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return err
		}
		link, _ := netlink.LinkByName("uplink")
		addr, _ := netlink.ParseAddr("172.31.0.1/24")
		if err := netlink.AddrAdd(link, addr); err != nil {
			return err
		}
		return netlink.LinkSetUp(link)
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func newFabric(t *testing.T, ns string) *fabric.Fabric {
	t.Helper()
	f, err := fabric.New(fabric.Config{StateDir: t.TempDir(), NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// overlayPlan is an overlay-shaped plan for node 172.31.0.1 with peers.
func overlayPlan(peers ...string) network.Plan {
	p := network.Plan{
		Devices: []network.Device{
			{Name: "skiff0", Kind: network.KindBridge, MTU: 1450, Address: "10.244.1.1/24"},
			{Name: "skiff.vxlan", Kind: network.KindVXLAN, MTU: 1450, Address: "10.244.1.0/32", MAC: "0e:73:ac:1f:00:01", VNI: 1, Port: 8472, Local: "172.31.0.1"},
		},
		Rules: []network.Rule{
			{Table: "filter", Chain: "FORWARD", Args: []string{"-s", "10.244.0.0/16", "-j", "ACCEPT"}},
			{Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16", "-j", "MASQUERADE"}},
		},
		Sysctls: map[string]string{network.SysctlIPForward: "1"},
	}
	for i, ip := range peers {
		subnet := fmt.Sprintf("10.244.%d.0", i+2)
		mac := fmt.Sprintf("0e:73:ac:1f:00:%02x", i+2)
		p.Routes = append(p.Routes, network.Route{Dst: subnet + "/24", Via: subnet, Dev: "skiff.vxlan", OnLink: true})
		p.Neighbors = append(p.Neighbors, network.Neighbor{Dev: "skiff.vxlan", IP: subnet, MAC: mac})
		p.FDB = append(p.FDB, network.FDBEntry{Dev: "skiff.vxlan", MAC: mac, Dst: ip})
	}
	return p
}

func dump(t *testing.T, ns string) string {
	t.Helper()
	d, err := harness.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sync(t *testing.T, f *fabric.Fabric, p network.Plan) fabric.Changes {
	t.Helper()
	ch, err := f.Sync(context.Background(), p)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return ch
}

func TestSyncTwiceChangesNothing(t *testing.T) {
	ns := testNS(t)
	f := newFabric(t, ns)
	plan := overlayPlan("172.31.0.2", "172.31.0.3")
	if ch := sync(t, f, plan); len(ch) == 0 {
		t.Fatal("first sync reported no changes")
	}
	before := dump(t, ns)
	for _, want := range []string{
		"link skiff.vxlan type=vxlan mtu=1450 up=true master= mac=0e:73:ac:1f:00:01 vni=1 port=8472 local=172.31.0.1 learning=false",
		"addr 10.244.1.0/32 dev skiff.vxlan",
		"addr 10.244.1.1/24 dev skiff0",
		"route table=254 10.244.2.0/24 via 10.244.2.0 dev skiff.vxlan proto 115 flags 4",
		"neigh 10.244.3.0 lladdr 0e:73:ac:1f:00:03 dev skiff.vxlan",
		"fdb 0e:73:ac:1f:00:02 dst 172.31.0.2 dev skiff.vxlan",
		"nat: -A POSTROUTING -m comment --comment skiff-fabric-hook -j SKIFF-FABRIC-POSTROUTING",
		"ip_forward 1",
	} {
		if !strings.Contains(before, want+"\n") && !strings.HasSuffix(before, want) {
			t.Errorf("host state lacks %q:\n%s", want, before)
		}
	}
	if ch := sync(t, f, plan); len(ch) != 0 {
		t.Errorf("second sync of the same plan changed %q", ch)
	}
	// A fresh Fabric (an agent restart) finds nothing to do either.
	if ch := sync(t, newFabric(t, ns), plan); len(ch) != 0 {
		t.Errorf("sync after restart changed %q", ch)
	}
	if after := dump(t, ns); after != before {
		t.Errorf("state changed by re-syncing:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestSyncRemovesStaleAndKeepsForeign(t *testing.T) {
	ns := testNS(t)
	f := newFabric(t, ns)
	sync(t, f, overlayPlan("172.31.0.2", "172.31.0.3"))
	clean := dump(t, ns)
	// Mess with the host as drift and leftovers would: a stale owned route,
	// FDB and neighbour entries, a stale VXLAN device, a foreign route, a
	// deleted planned route and a rule slipped into the fabric's chain.
	err := fabric.InNetNS(ns, func() error {
		vx, _ := netlink.LinkByName("skiff.vxlan")
		uplink, _ := netlink.LinkByName("uplink")
		_, stale, _ := netParse("10.244.99.0/24")
		_, foreign, _ := netParse("10.99.0.0/24")
		_, planned, _ := netParse("10.244.2.0/24")
		mac, _ := parseMAC("0e:73:00:00:00:99")
		steps := []error{
			netlink.RouteAdd(&netlink.Route{Dst: stale, Gw: ip("172.31.0.9"), Protocol: fabric.RouteProtocol}),
			netlink.RouteAdd(&netlink.Route{Dst: foreign, Gw: ip("172.31.0.9"), Protocol: unix.RTPROT_STATIC, LinkIndex: uplink.Attrs().Index}),
			netlink.RouteDel(&netlink.Route{Dst: planned, LinkIndex: vx.Attrs().Index}),
			netlink.NeighSet(&netlink.Neigh{LinkIndex: vx.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: ip("10.244.99.0"), HardwareAddr: mac}),
			netlink.NeighAppend(&netlink.Neigh{LinkIndex: vx.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT, IP: ip("172.31.0.99"), HardwareAddr: mac}),
			netlink.LinkAdd(&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: "skiff.old"}, VxlanId: 7, Port: 4789, SrcAddr: ip("172.31.0.1")}),
		}
		for _, err := range steps {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := sync(t, f, overlayPlan("172.31.0.2", "172.31.0.3"))
	if len(ch) != 5 {
		t.Errorf("reconcile made %d changes, want 5 (route back, stale route, neighbour, fdb, device): %q", len(ch), ch)
	}
	got := dump(t, ns)
	foreign := "route table=254 10.99.0.0/24 via 172.31.0.9 dev uplink proto 4 flags 0"
	if !strings.Contains(got, foreign) {
		t.Errorf("reconcile removed a route it does not own: %q missing", foreign)
	}
	if without := strings.Replace(got, foreign+"\n", "", 1); without != clean {
		t.Errorf("after reconcile:\n%s\nwant (plus the foreign route):\n%s", got, clean)
	}
}

func TestSyncFollowsPeerChanges(t *testing.T) {
	ns := testNS(t)
	f := newFabric(t, ns)
	sync(t, f, overlayPlan("172.31.0.2", "172.31.0.3"))
	sync(t, f, overlayPlan("172.31.0.12")) // node 2 moved, node 3 left
	got := dump(t, ns)
	if !strings.Contains(got, "fdb 0e:73:ac:1f:00:02 dst 172.31.0.12 dev skiff.vxlan") {
		t.Errorf("FDB entry of the moved peer not updated:\n%s", got)
	}
	for _, gone := range []string{"dst 172.31.0.2 ", "10.244.3.0"} {
		if strings.Contains(got, gone) {
			t.Errorf("entry %q of a changed or departed peer is still there:\n%s", gone, got)
		}
	}
}

func TestTeardownLeavesNothing(t *testing.T) {
	ns := testNS(t)
	pristine := dump(t, ns)
	f := newFabric(t, ns)
	sync(t, f, overlayPlan("172.31.0.2"))
	if _, err := f.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, ns); got != pristine {
		t.Errorf("after teardown:\n%s\nwant the pristine namespace:\n%s", got, pristine)
	}
	// A second teardown has nothing left to do.
	if ch, err := f.Teardown(context.Background()); err != nil || len(ch) != 0 {
		t.Errorf("second teardown: %q, %v", ch, err)
	}
}

func TestTeardownKeepsForwardingSkiffDidNotSet(t *testing.T) {
	ns := testNS(t)
	if err := fabric.InNetNS(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	f := newFabric(t, ns)
	sync(t, f, overlayPlan())
	if _, err := f.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, ns); !strings.HasSuffix(got, "ip_forward 1") && !strings.Contains(got, "ip_forward 1\n") {
		t.Errorf("teardown reset ip_forward that was on before skiff:\n%s", got)
	}
}

func TestInvalidPlanChangesNothing(t *testing.T) {
	ns := testNS(t)
	f := newFabric(t, ns)
	sync(t, f, overlayPlan("172.31.0.2"))
	before := dump(t, ns)
	for name, mutate := range map[string]func(p *network.Plan){
		"foreign device name": func(p *network.Plan) { p.Devices[0].Name = "eth7" },
		"vni out of range":    func(p *network.Plan) { p.Devices[1].VNI = 1 << 24 },
		"unknown kind":        func(p *network.Plan) { p.Devices[0].Kind = "macvlan" },
		"bad route":           func(p *network.Plan) { p.Routes[0].Dst = "10.244.2.0" },
		"fdb on a bridge":     func(p *network.Plan) { p.FDB[0].Dev = "skiff0" },
		"unhookable chain":    func(p *network.Plan) { p.Rules[0].Chain = "SKIFF-X" },
		"sysctl escape":       func(p *network.Plan) { p.Sysctls["net/../kernel/panic"] = "1" },
	} {
		p := overlayPlan("172.31.0.9")
		mutate(&p)
		if _, err := f.Sync(context.Background(), p); err == nil {
			t.Errorf("%s: Sync accepted an invalid plan", name)
		} else if !strings.Contains(err.Error(), "plan: ") {
			t.Errorf("%s: error does not say where the plan is wrong: %v", name, err)
		}
	}
	if after := dump(t, ns); after != before {
		t.Errorf("an invalid plan changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
