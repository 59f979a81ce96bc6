// Package overlay is a flannel-like VXLAN network backend: every node has a
// VXLAN device (skiff.vxlan, VNI 1, UDP 8472 by default) without learning,
// and for each peer a route to the peer's pod subnet via the peer's VTEP
// address (its subnet's network address) onlink, a permanent neighbour entry
// for that address and an FDB entry sending the peer's VTEP MAC to the
// peer's node IP. Pods get the underlay MTU minus the 50 bytes of VXLAN
// encapsulation. The planner is pure; core/node/fabric applies its plans.
package overlay

import (
	"context"
	"fmt"
	"net"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

// Name is the backend's name in skiffd's configuration.
const Name = "overlay"

// Overhead is what VXLAN encapsulation adds to a frame (outer Ethernet 14,
// IPv4 20, UDP 8, VXLAN 8).
const Overhead = 50

// Descriptor describes the plugin to skiff's catalog.
var Descriptor = sdk.NewDescriptor(Name, sdk.PointNetwork)

// Planner computes a node's VXLAN fabric.
type Planner struct {
	args Args
	log  sdk.Handle
}

var _ network.Plugin = (*Planner)(nil)

// Plan returns the fabric for in.
func (p *Planner) Plan(_ context.Context, in network.Input) (network.Plan, error) {
	parsed, err := network.Parse(in)
	if err != nil {
		return network.Plan{}, fmt.Errorf("overlay network for node %q: %w", in.Self.Name, err)
	}
	for _, why := range parsed.Skipped {
		p.log.Logger().Warn("overlay: peer left out of the fabric", "reason", why)
	}
	mtu := parsed.UnderlayMTU - Overhead
	if p.args.MTU != 0 {
		mtu = p.args.MTU
	}
	if mtu > parsed.UnderlayMTU-Overhead {
		return network.Plan{}, fmt.Errorf("overlay network for node %q: mtu %d does not leave the %d bytes of VXLAN overhead on a %d-byte underlay; lower args.mtu",
			in.Self.Name, mtu, Overhead, parsed.UnderlayMTU)
	}
	plan, err := network.BasePlan(parsed, p.args.Options(Name, mtu))
	if err != nil {
		return network.Plan{}, fmt.Errorf("overlay network for node %q: %w", in.Self.Name, err)
	}
	mac := VTEPMAC(parsed.Self.Addr)
	dev := p.args.Device
	plan.Devices = append(plan.Devices, network.Device{
		Name: dev, Kind: network.KindVXLAN, MTU: mtu, MAC: mac.String(),
		Address: (&net.IPNet{IP: vtepIP(parsed.Self), Mask: net.CIDRMask(32, 32)}).String(),
		VNI:     p.args.VNI, Port: p.args.Port, Local: parsed.Self.Addr.String(),
	})
	plan.Annotations[network.AnnotationVTEPMAC] = mac.String()
	for _, peer := range parsed.Peers {
		peerMAC := VTEPMAC(peer.Addr).String()
		if peer.VTEPMAC != "" {
			hw, err := net.ParseMAC(peer.VTEPMAC)
			if err != nil || len(hw) != 6 {
				p.log.Logger().Warn("overlay: peer's VTEP MAC annotation is not a MAC; using the derived one", "node", peer.Name, "mac", peer.VTEPMAC)
			} else {
				peerMAC = hw.String()
			}
		}
		via := vtepIP(peer).String()
		plan.Routes = append(plan.Routes, network.Route{Dst: peer.Subnet.String(), Via: via, Dev: dev, OnLink: true})
		plan.Neighbors = append(plan.Neighbors, network.Neighbor{Dev: dev, IP: via, MAC: peerMAC})
		plan.FDB = append(plan.FDB, network.FDBEntry{Dev: dev, MAC: peerMAC, Dst: peer.Addr.String()})
	}
	return plan, nil
}

// vtepIP is a node's address on the VXLAN device: its pod subnet's network
// address, as flannel does, so it never collides with a pod's.
func vtepIP(n network.ParsedNode) net.IP { return network.Offset(n.Subnet, 0) }

// VTEPMAC is the MAC of the VXLAN device of the node at nodeIP: locally
// administered and derived from the address, so a recreated device keeps
// it and peers can program a node before it has published its annotation.
func VTEPMAC(nodeIP net.IP) net.HardwareAddr {
	ip := nodeIP.To4()
	return net.HardwareAddr{0x0e, 0x73, ip[0], ip[1], ip[2], ip[3]}
}
