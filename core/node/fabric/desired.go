package fabric

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/skiff-sh/skiff/sdk/network"
)

// desired is a plan checked and parsed: everything is validated before the
// host is touched, so a bad plan changes nothing.
type desired struct {
	devices []device
	routes  []route
	neighs  []neigh
	fdb     []fdbEntry
	rules   map[hook][]network.Rule
	sysctls map[string]string
}

type device struct {
	network.Device
	addr *net.IPNet
	mac  net.HardwareAddr
	// local is the VXLAN source address.
	local net.IP
}

type route struct {
	dst    *net.IPNet
	via    net.IP
	dev    string
	onLink bool
}

type neigh struct {
	dev string
	ip  net.IP
	mac net.HardwareAddr
}

type fdbEntry struct {
	dev string
	mac net.HardwareAddr
	dst net.IP
}

// hook is a built-in chain of a table that the fabric hooks with a chain of
// its own.
type hook struct{ table, chain string }

// hookable lists the built-in chains a plan may hook, per table.
var hookable = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
}

var sysctlName = regexp.MustCompile(`^net/(ipv4|ipv6|bridge|core)/[A-Za-z0-9_./-]+$`)

// check validates plan against the fabric's ownership rules and parses it.
func (f *Fabric) check(plan network.Plan) (*desired, error) {
	d := &desired{rules: map[hook][]network.Rule{}, sysctls: plan.Sysctls}
	kinds := map[string]string{}
	for i, dev := range plan.Devices {
		where := fmt.Sprintf("plan: devices[%d] %q", i, dev.Name)
		if !strings.HasPrefix(dev.Name, f.cfg.DevicePrefix) || len(dev.Name) > 15 {
			return nil, fmt.Errorf("%s: name must start with %q (the fabric owns such devices) and be at most 15 characters", where, f.cfg.DevicePrefix)
		}
		if _, dup := kinds[dev.Name]; dup {
			return nil, fmt.Errorf("%s: planned twice", where)
		}
		kinds[dev.Name] = dev.Kind
		out := device{Device: dev}
		if dev.MTU != 0 && (dev.MTU < 576 || dev.MTU > 65535) {
			return nil, fmt.Errorf("%s: mtu must be between 576 and 65535, got %d", where, dev.MTU)
		}
		if dev.Address != "" {
			ip, n, err := net.ParseCIDR(dev.Address)
			if err != nil || ip.To4() == nil {
				return nil, fmt.Errorf("%s: address %q: must be an IPv4 CIDR such as 10.244.3.1/24", where, dev.Address)
			}
			out.addr = &net.IPNet{IP: ip.To4(), Mask: n.Mask}
		}
		if dev.MAC != "" {
			mac, err := net.ParseMAC(dev.MAC)
			if err != nil || len(mac) != 6 || mac[0]&1 == 1 {
				return nil, fmt.Errorf("%s: mac %q: must be a unicast Ethernet address", where, dev.MAC)
			}
			out.mac = mac
		}
		switch dev.Kind {
		case network.KindBridge:
		case network.KindVXLAN:
			if dev.VNI < 1 || dev.VNI > 1<<24-1 {
				return nil, fmt.Errorf("%s: vni must be between 1 and 16777215, got %d", where, dev.VNI)
			}
			if dev.Port < 1 || dev.Port > 65535 {
				return nil, fmt.Errorf("%s: port must be between 1 and 65535, got %d", where, dev.Port)
			}
			if out.local = net.ParseIP(dev.Local).To4(); out.local == nil {
				return nil, fmt.Errorf("%s: local %q: must be the node's IPv4 underlay address", where, dev.Local)
			}
		default:
			return nil, fmt.Errorf("%s: kind %q: must be %q or %q", where, dev.Kind, network.KindBridge, network.KindVXLAN)
		}
		d.devices = append(d.devices, out)
	}
	vxlanDev := func(where, name string) error {
		if kinds[name] != network.KindVXLAN {
			return fmt.Errorf("%s: dev %q is not a VXLAN device of the plan", where, name)
		}
		return nil
	}
	seenDst := map[string]bool{}
	for i, r := range plan.Routes {
		where := fmt.Sprintf("plan: routes[%d] to %q", i, r.Dst)
		_, dst, err := net.ParseCIDR(r.Dst)
		if err != nil || dst.IP.To4() == nil {
			return nil, fmt.Errorf("%s: dst must be an IPv4 CIDR such as 10.244.3.0/24", where)
		}
		if seenDst[dst.String()] {
			return nil, fmt.Errorf("%s: planned twice", where)
		}
		seenDst[dst.String()] = true
		out := route{dst: dst, dev: r.Dev, onLink: r.OnLink}
		if r.Via != "" {
			if out.via = net.ParseIP(r.Via).To4(); out.via == nil {
				return nil, fmt.Errorf("%s: via %q: must be an IPv4 address", where, r.Via)
			}
		}
		if r.Dev != "" {
			if _, ok := kinds[r.Dev]; !ok {
				return nil, fmt.Errorf("%s: dev %q is not a device of the plan", where, r.Dev)
			}
		}
		if out.via == nil && r.Dev == "" {
			return nil, fmt.Errorf("%s: needs via, dev or both", where)
		}
		if r.OnLink && r.Dev == "" {
			return nil, fmt.Errorf("%s: an onlink route needs dev", where)
		}
		d.routes = append(d.routes, out)
	}
	for i, n := range plan.Neighbors {
		where := fmt.Sprintf("plan: neighbors[%d] %q", i, n.IP)
		if err := vxlanDev(where, n.Dev); err != nil {
			return nil, err
		}
		ip := net.ParseIP(n.IP).To4()
		mac, err := net.ParseMAC(n.MAC)
		if ip == nil || err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("%s: needs an IPv4 address and an Ethernet MAC, got %q and %q", where, n.IP, n.MAC)
		}
		d.neighs = append(d.neighs, neigh{dev: n.Dev, ip: ip, mac: mac})
	}
	for i, e := range plan.FDB {
		where := fmt.Sprintf("plan: fdb[%d] %q", i, e.MAC)
		if err := vxlanDev(where, e.Dev); err != nil {
			return nil, err
		}
		dst := net.ParseIP(e.Dst).To4()
		mac, err := net.ParseMAC(e.MAC)
		if dst == nil || err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("%s: needs an Ethernet MAC and an IPv4 underlay address, got %q and %q", where, e.MAC, e.Dst)
		}
		d.fdb = append(d.fdb, fdbEntry{dev: e.Dev, mac: mac, dst: dst})
	}
	for i, r := range plan.Rules {
		where := fmt.Sprintf("plan: rules[%d] (%s %s)", i, r.Table, r.Chain)
		if !slices.Contains(hookable[r.Table], r.Chain) {
			return nil, fmt.Errorf("%s: must hook a built-in chain such as filter FORWARD or nat POSTROUTING", where)
		}
		if len(r.Args) == 0 || slices.ContainsFunc(r.Args, func(a string) bool { return a == "-A" || a == "-I" || a == "-D" || a == "-t" }) {
			return nil, fmt.Errorf("%s: args %q: give only match and target arguments", where, r.Args)
		}
		h := hook{r.Table, r.Chain}
		d.rules[h] = append(d.rules[h], r)
	}
	for k, v := range plan.Sysctls {
		if !sysctlName.MatchString(k) || path.Clean(k) != k || strings.Contains(k, "..") {
			return nil, fmt.Errorf("plan: sysctl %q: must be a net/ipv4, net/ipv6, net/bridge or net/core key such as net/ipv4/ip_forward", k)
		}
		if v == "" || strings.ContainsAny(v, "\n") {
			return nil, fmt.Errorf("plan: sysctl %q: value %q must be one non-empty line", k, v)
		}
	}
	return d, nil
}
