package fabric

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/skiff-sh/skiff/sdk/network"
)

// owned reports whether the fabric owns link: a bridge or VXLAN device
// whose name has the fabric's prefix.
func (f *Fabric) owned(link netlink.Link) bool {
	t := link.Type()
	return strings.HasPrefix(link.Attrs().Name, f.cfg.DevicePrefix) && (t == network.KindBridge || t == network.KindVXLAN)
}

// syncDevices creates, fixes and removes devices, returning the planned
// ones by name. A stale VXLAN device is removed; a stale bridge stays until
// Teardown, because pods the fabric does not own hang off it.
func (f *Fabric) syncDevices(d *desired, ch *Changes) (map[string]netlink.Link, error) {
	links := map[string]netlink.Link{}
	var errs []error
	for _, dev := range d.devices {
		link, err := f.syncDevice(dev, ch)
		if err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", dev.Name, err))
			continue
		}
		links[dev.Name] = link
	}
	all, err := netlink.LinkList()
	if err != nil {
		return links, errors.Join(append(errs, fmt.Errorf("list devices: %w", err))...)
	}
	for _, link := range all {
		name := link.Attrs().Name
		if _, planned := links[name]; planned || !f.owned(link) || link.Type() != network.KindVXLAN {
			continue
		}
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete stale device %s: %w", name, err))
			continue
		}
		ch.add("delete device %s", name)
	}
	return links, errors.Join(errs...)
}

func (f *Fabric) syncDevice(dev device, ch *Changes) (netlink.Link, error) {
	link, err := netlink.LinkByName(dev.Name)
	if err != nil && !errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil, err
	}
	if link != nil && !sameDevice(link, dev) {
		if err := netlink.LinkDel(link); err != nil {
			return nil, fmt.Errorf("delete to recreate: %w", err)
		}
		ch.add("delete device %s (%s settings changed)", dev.Name, dev.Kind)
		link = nil
	}
	if link == nil {
		if err := netlink.LinkAdd(newLink(dev)); err != nil {
			return nil, fmt.Errorf("create %s: %w", dev.Kind, err)
		}
		ch.add("add device %s (%s)", dev.Name, dev.Kind)
		if link, err = netlink.LinkByName(dev.Name); err != nil {
			return nil, err
		}
	}
	attrs := link.Attrs()
	if dev.MTU != 0 && attrs.MTU != dev.MTU {
		if err := netlink.LinkSetMTU(link, dev.MTU); err != nil {
			return nil, fmt.Errorf("set mtu %d: %w", dev.MTU, err)
		}
		ch.add("set device %s mtu %d", dev.Name, dev.MTU)
	}
	if dev.mac != nil && !bytes.Equal(attrs.HardwareAddr, dev.mac) {
		if err := netlink.LinkSetHardwareAddr(link, dev.mac); err != nil {
			return nil, fmt.Errorf("set mac %s: %w", dev.mac, err)
		}
		ch.add("set device %s mac %s", dev.Name, dev.mac)
	}
	if err := f.syncAddress(link, dev, ch); err != nil {
		return nil, err
	}
	if attrs.Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("set up: %w", err)
		}
		ch.add("set device %s up", dev.Name)
	}
	return link, nil
}

// sameDevice reports whether link can serve dev as it is; settings the
// kernel cannot change on a live device force a recreation.
func sameDevice(link netlink.Link, dev device) bool {
	if link.Type() != dev.Kind {
		return false
	}
	if dev.Kind != network.KindVXLAN {
		return true
	}
	v, ok := link.(*netlink.Vxlan)
	return ok && v.VxlanId == dev.VNI && v.Port == dev.Port && v.SrcAddr.Equal(dev.local) && v.Learning == dev.Learning
}

func newLink(dev device) netlink.Link {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.HardwareAddr = dev.Name, dev.MTU, dev.mac
	if dev.Kind == network.KindVXLAN {
		return &netlink.Vxlan{LinkAttrs: attrs, VxlanId: dev.VNI, Port: dev.Port, SrcAddr: dev.local, Learning: dev.Learning}
	}
	return &netlink.Bridge{LinkAttrs: attrs}
}

// syncAddress gives the device its planned IPv4 address and removes other
// IPv4 addresses from it: the device is the fabric's.
func (f *Fabric) syncAddress(link netlink.Link, dev device, ch *Changes) error {
	if dev.addr == nil {
		return nil
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == dev.addr.String() {
			have = true
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("delete stale address %s: %w", a.IPNet, err)
		}
		ch.add("delete address %s from %s", a.IPNet, dev.Name)
	}
	if !have {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: dev.addr}); err != nil {
			return fmt.Errorf("add address %s: %w", dev.addr, err)
		}
		ch.add("add address %s to %s", dev.addr, dev.Name)
	}
	return nil
}

// deleteDevices removes every device the fabric owns.
func (f *Fabric) deleteDevices(ch *Changes) error {
	all, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	var errs []error
	for _, link := range all {
		if !f.owned(link) {
			continue
		}
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("delete device %s: %w", link.Attrs().Name, err))
			continue
		}
		ch.add("delete device %s", link.Attrs().Name)
	}
	return errors.Join(errs...)
}
