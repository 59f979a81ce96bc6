package bridge

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

// Name is the plugin's name in skiffd's configuration.
const Name = "bridge"

// Args configure the bridge plugin (the `args:` of its entry in skiffd.yaml).
type Args struct {
	Bridge  string `json:"bridge,omitempty"`  // default skiff0
	Network string `json:"network,omitempty"` // default skiff
	// MTU of pod interfaces; default the node's underlay MTU.
	MTU int `json:"mtu,omitempty"`
	// IPAMDir is host-local's data dir (default /var/lib/skiff/cni/ipam).
	IPAMDir string `json:"ipamDir,omitempty"`
}

// Planner is the network.v1 side of the bridge plugin: one node, no fabric
// to build, so its plan is only the CNI configuration for the node's subnet.
// The host attaches pods with it (Network does exactly that).
type Planner struct{ args Args }

var _ network.Plugin = (*Planner)(nil)

// Descriptor describes the plugin to skiff's catalog.
var Descriptor = sdk.NewDescriptor(Name, sdk.PointNetwork)

// Factory builds a Planner from its arguments.
func Factory(args sdk.Args, _ sdk.Handle) (any, error) {
	var a Args
	if err := args.Decode(&a); err != nil {
		return nil, fmt.Errorf("network plugin %s: %w", Name, err)
	}
	if a.Bridge == "" {
		a.Bridge = DefaultBridge
	}
	if a.Network == "" {
		a.Network = DefaultNetwork
	}
	if a.IPAMDir == "" {
		a.IPAMDir = "/var/lib/skiff/cni/ipam"
	}
	return &Planner{args: a}, nil
}

// Plan returns the CNI configuration for the node's pod subnet.
func (p *Planner) Plan(_ context.Context, in network.Input) (network.Plan, error) {
	mtu := p.args.MTU
	if mtu == 0 {
		mtu = in.UnderlayMTU
	}
	if mtu == 0 {
		mtu = DefaultMTU
	}
	conf, err := ConfList(ConfListOptions{
		Network: p.args.Network, Bridge: p.args.Bridge, Subnet: in.Self.PodCIDR, MTU: mtu, IPAMDir: p.args.IPAMDir,
	})
	if err != nil {
		return network.Plan{}, fmt.Errorf("node %q: %w", in.Self.Name, err)
	}
	return network.Plan{CNIConfig: conf}, nil
}
