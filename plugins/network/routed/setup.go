package routed

import (
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

// Args configure the routed backend (the `args:` of its entry in
// skiffd.yaml): mtu (default the underlay's), bridge, network, ipamDir.
type Args struct {
	network.PodArgs
}

// Factory builds a Planner from its arguments; builtin, process and WASM
// loaders all call it.
func Factory(raw sdk.Args, h sdk.Handle) (any, error) {
	var a Args
	if err := raw.Decode(&a); err != nil {
		return nil, fmt.Errorf("network backend %s: %w", Name, err)
	}
	if err := a.SetDefaults(); err != nil {
		return nil, fmt.Errorf("network backend %s: %w", Name, err)
	}
	if h == nil {
		h = sdk.LoggerHandle{}
	}
	return &Planner{args: a, log: h}, nil
}
