package fabric

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// syncRoutes makes the main table's routes of protocol RouteProtocol
// exactly the planned ones.
func (f *Fabric) syncRoutes(d *desired, links map[string]netlink.Link, ch *Changes) error {
	have, err := ownedRoutes()
	if err != nil {
		return err
	}
	var errs []error
	planned := map[string]bool{}
	for _, r := range d.routes {
		want := netlink.Route{Dst: r.dst, Gw: r.via, Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN, Scope: netlink.SCOPE_UNIVERSE}
		if r.dev != "" {
			link, ok := links[r.dev]
			if !ok {
				errs = append(errs, fmt.Errorf("route to %s: device %s is not available", r.dst, r.dev))
				continue
			}
			want.LinkIndex = link.Attrs().Index
		}
		if r.onLink {
			want.Flags = int(netlink.FLAG_ONLINK)
		}
		planned[r.dst.String()] = true
		if cur, ok := have[r.dst.String()]; ok && sameRoute(cur, want) {
			continue
		}
		if err := netlink.RouteReplace(&want); err != nil {
			errs = append(errs, fmt.Errorf("route to %s: %w", r.dst, err))
			continue
		}
		ch.add("set route %s", describeRoute(r))
	}
	for dst, cur := range have {
		if planned[dst] {
			continue
		}
		if err := netlink.RouteDel(&cur); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete stale route to %s: %w", dst, err))
			continue
		}
		ch.add("delete route %s", dst)
	}
	return errors.Join(errs...)
}

func describeRoute(r route) string {
	s := r.dst.String()
	if r.via != nil {
		s += " via " + r.via.String()
	}
	if r.dev != "" {
		s += " dev " + r.dev
	}
	if r.onLink {
		s += " onlink"
	}
	return s
}

// ownedRoutes lists the fabric's IPv4 routes by destination.
func ownedRoutes() (map[string]netlink.Route, error) {
	list, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes of protocol %d: %w", RouteProtocol, err)
	}
	out := map[string]netlink.Route{}
	for _, r := range list {
		if r.Dst != nil {
			out[r.Dst.String()] = r
		}
	}
	return out, nil
}

// sameRoute compares what the fabric sets; a route planned without a
// device matches whatever device the kernel chose for its gateway.
func sameRoute(cur, want netlink.Route) bool {
	if !cur.Gw.Equal(want.Gw) || cur.Flags&int(netlink.FLAG_ONLINK) != want.Flags&int(netlink.FLAG_ONLINK) {
		return false
	}
	return want.LinkIndex == 0 || cur.LinkIndex == want.LinkIndex
}

// syncNeighbors makes the permanent ARP entries of each planned VXLAN
// device exactly the planned ones.
func (f *Fabric) syncNeighbors(d *desired, links map[string]netlink.Link, ch *Changes) error {
	var errs []error
	for name, link := range vxlanLinks(links) {
		want := map[string]neigh{}
		for _, n := range d.neighs {
			if n.dev == name {
				want[n.ip.String()] = n
			}
		}
		list, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			errs = append(errs, fmt.Errorf("list neighbours of %s: %w", name, err))
			continue
		}
		for _, cur := range list {
			if cur.State&netlink.NUD_PERMANENT == 0 {
				continue
			}
			if w, ok := want[cur.IP.String()]; ok && bytes.Equal(w.mac, cur.HardwareAddr) {
				delete(want, cur.IP.String())
				continue
			}
			if err := netlink.NeighDel(&cur); err != nil {
				errs = append(errs, fmt.Errorf("delete stale neighbour %s on %s: %w", cur.IP, name, err))
				continue
			}
			ch.add("delete neighbour %s lladdr %s dev %s", cur.IP, cur.HardwareAddr, name)
		}
		for _, n := range want {
			entry := netlink.Neigh{LinkIndex: link.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: n.ip, HardwareAddr: n.mac}
			if err := netlink.NeighSet(&entry); err != nil {
				errs = append(errs, fmt.Errorf("neighbour %s on %s: %w", n.ip, name, err))
				continue
			}
			ch.add("add neighbour %s lladdr %s dev %s", n.ip, n.mac, name)
		}
	}
	return errors.Join(errs...)
}

// syncFDB makes the remote entries (MAC -> underlay IP) of each planned
// VXLAN device exactly the planned ones.
func (f *Fabric) syncFDB(d *desired, links map[string]netlink.Link, ch *Changes) error {
	var errs []error
	for name, link := range vxlanLinks(links) {
		want := map[string]fdbEntry{}
		for _, e := range d.fdb {
			if e.dev == name {
				want[e.mac.String()+" "+e.dst.String()] = e
			}
		}
		list, err := netlink.NeighList(link.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			errs = append(errs, fmt.Errorf("list FDB of %s: %w", name, err))
			continue
		}
		for _, cur := range list {
			if cur.IP == nil {
				continue // not a remote entry
			}
			key := cur.HardwareAddr.String() + " " + cur.IP.String()
			if _, ok := want[key]; ok {
				delete(want, key)
				continue
			}
			if err := netlink.NeighDel(&cur); err != nil {
				errs = append(errs, fmt.Errorf("delete stale FDB entry %s on %s: %w", key, name, err))
				continue
			}
			ch.add("delete fdb %s dst %s dev %s", cur.HardwareAddr, cur.IP, name)
		}
		for _, e := range want {
			entry := netlink.Neigh{
				LinkIndex: link.Attrs().Index, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
				State: netlink.NUD_PERMANENT, HardwareAddr: e.mac, IP: e.dst,
			}
			if err := netlink.NeighAppend(&entry); err != nil {
				errs = append(errs, fmt.Errorf("FDB entry %s dst %s on %s: %w", e.mac, e.dst, name, err))
				continue
			}
			ch.add("add fdb %s dst %s dev %s", e.mac, e.dst, name)
		}
	}
	return errors.Join(errs...)
}

func vxlanLinks(links map[string]netlink.Link) map[string]netlink.Link {
	out := map[string]netlink.Link{}
	for name, l := range links {
		if _, ok := l.(*netlink.Vxlan); ok {
			out[name] = l
		}
	}
	return out
}
