package harness

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/core/node/fabric"
)

// Dump is a namespace's network state as sorted text: links, addresses,
// IPv4 routes of every table, permanent neighbours, FDB remotes, the
// iptables filter/nat/mangle rules and ip_forward. Two dumps are equal when
// the state is; counters and kernel-learned (non-permanent) entries are left
// out, and so are the veths of pods, whose names CNI draws at random.
func Dump(netnsPath string) (string, error) {
	var lines []string
	err := fabric.InNetNS(netnsPath, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		names := map[int]string{}
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
		for _, l := range links {
			a := l.Attrs()
			if l.Type() == "veth" && strings.HasPrefix(a.Name, "veth") {
				continue
			}
			line := fmt.Sprintf("link %s type=%s mtu=%d up=%v master=%s", a.Name, l.Type(), a.MTU, a.Flags&(1<<0) != 0, names[a.MasterIndex])
			if l.Type() != "veth" { // veth MACs are random
				line += " mac=" + a.HardwareAddr.String()
			}
			if v, ok := l.(*netlink.Vxlan); ok {
				line += fmt.Sprintf(" vni=%d port=%d local=%s learning=%v", v.VxlanId, v.Port, v.SrcAddr, v.Learning)
			}
			lines = append(lines, line)
			addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
			for _, ad := range addrs {
				lines = append(lines, fmt.Sprintf("addr %s dev %s", ad.IPNet, a.Name))
			}
			neighs, _ := netlink.NeighList(a.Index, netlink.FAMILY_V4)
			for _, n := range neighs {
				if n.State&netlink.NUD_PERMANENT != 0 {
					lines = append(lines, fmt.Sprintf("neigh %s lladdr %s dev %s", n.IP, n.HardwareAddr, a.Name))
				}
			}
			if l.Type() == "vxlan" {
				fdb, _ := netlink.NeighList(a.Index, unix.AF_BRIDGE)
				for _, n := range fdb {
					if n.IP != nil {
						lines = append(lines, fmt.Sprintf("fdb %s dst %s dev %s", n.HardwareAddr, n.IP, a.Name))
					}
				}
			}
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if strings.HasPrefix(names[r.LinkIndex], "veth") {
				continue
			}
			lines = append(lines, fmt.Sprintf("route table=%d %s via %s dev %s proto %d flags %d", r.Table, r.Dst, r.Gw, names[r.LinkIndex], r.Protocol, r.Flags))
		}
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, err := exec.Command("iptables-save", "-t", table).Output()
			if err != nil {
				return fmt.Errorf("iptables-save -t %s: %w", table, err)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "COMMIT") || cniChain.MatchString(l) {
					continue
				}
				lines = append(lines, table+": "+counters.ReplaceAllString(l, ""))
			}
		}
		fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		if err != nil {
			return err
		}
		lines = append(lines, "ip_forward "+strings.TrimSpace(string(fwd)))
		return nil
	})
	slices.Sort(lines)
	return strings.Join(lines, "\n"), err
}

var (
	counters = regexp.MustCompile(` \[\d+:\d+\]`)
	// CNI's per-pod chains carry random IDs.
	cniChain = regexp.MustCompile(`CNI-[0-9a-f]{20,}`)
)
