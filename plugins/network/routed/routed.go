// Package routed is a calico/host-gw-like network backend without
// encapsulation: for each peer, a plain route to the peer's pod subnet via
// the peer's node IP. Nodes must share an L2 segment (or a router must know
// the pod subnets); pods keep the full underlay MTU. Pod traffic leaving the
// cluster CIDR is masqueraded. The planner is pure; core/node/fabric
// applies its plans.
package routed

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

// Name is the backend's name in skiffd's configuration.
const Name = "routed"

// Descriptor describes the plugin to skiff's catalog.
var Descriptor = sdk.NewDescriptor(Name, sdk.PointNetwork)

// Planner computes a node's routed fabric.
type Planner struct {
	args Args
	log  sdk.Handle
}

var _ network.Plugin = (*Planner)(nil)

// Plan returns the fabric for in.
func (p *Planner) Plan(_ context.Context, in network.Input) (network.Plan, error) {
	parsed, err := network.Parse(in)
	if err != nil {
		return network.Plan{}, fmt.Errorf("routed network for node %q: %w", in.Self.Name, err)
	}
	for _, why := range parsed.Skipped {
		p.log.Logger().Warn("routed: peer left out of the fabric", "reason", why)
	}
	mtu := parsed.UnderlayMTU
	if p.args.MTU != 0 {
		mtu = p.args.MTU
	}
	if mtu > parsed.UnderlayMTU {
		return network.Plan{}, fmt.Errorf("routed network for node %q: mtu %d is larger than the %d-byte underlay; lower args.mtu", in.Self.Name, mtu, parsed.UnderlayMTU)
	}
	plan, err := network.BasePlan(parsed, p.args.Options(Name, mtu))
	if err != nil {
		return network.Plan{}, fmt.Errorf("routed network for node %q: %w", in.Self.Name, err)
	}
	for _, peer := range parsed.Peers {
		plan.Routes = append(plan.Routes, network.Route{Dst: peer.Subnet.String(), Via: peer.Addr.String()})
	}
	return plan, nil
}
