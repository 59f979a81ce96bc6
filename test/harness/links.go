package harness

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func linkUp(name string) func() error {
	return func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return netlink.LinkSetUp(link)
	}
}

// vethInto creates a veth pair in the current namespace and moves the peer
// end into the namespace at peerNS under the name peerName. The local end
// is left down; the caller configures both.
func vethInto(local, peerTmp, peerNS, peerName string, mtu int) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = local, mtu
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: peerTmp}); err != nil {
		return fmt.Errorf("veth %s/%s: %w", local, peerTmp, err)
	}
	peer, err := netlink.LinkByName(peerTmp)
	if err != nil {
		return err
	}
	ns, err := netns.GetFromPath(peerNS)
	if err != nil {
		return err
	}
	defer ns.Close()
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return fmt.Errorf("move %s into %s: %w", peerTmp, peerNS, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	moved, err := h.LinkByName(peerTmp)
	if err != nil {
		return err
	}
	if peerTmp != peerName {
		if err := h.LinkSetName(moved, peerName); err != nil {
			return fmt.Errorf("rename %s to %s: %w", peerTmp, peerName, err)
		}
	}
	return nil
}

// configure sets a link up with an optional address and bridge master, in
// the current namespace.
func configure(name string, addr *net.IPNet, master string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if addr != nil {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: addr}); err != nil {
			return fmt.Errorf("%s: address %s: %w", name, addr, err)
		}
	}
	if master != "" {
		br, err := netlink.LinkByName(master)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMaster(link, br); err != nil {
			return fmt.Errorf("%s: master %s: %w", name, master, err)
		}
	}
	return netlink.LinkSetUp(link)
}
