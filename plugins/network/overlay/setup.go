package overlay

import (
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

// Defaults of the overlay backend.
const (
	DefaultDevice = "skiff.vxlan"
	DefaultVNI    = 1
	DefaultPort   = 8472
	// MaxVNI is the largest 24-bit VXLAN network identifier.
	MaxVNI = 1<<24 - 1
)

// Args configure the overlay backend (the `args:` of its entry in skiffd.yaml).
type Args struct {
	// Device is the VXLAN device (default skiff.vxlan).
	Device string `json:"device,omitempty"`
	// VNI is the VXLAN network identifier, 1..16777215 (default 1).
	VNI int `json:"vni,omitempty"`
	// Port is the VXLAN UDP port (default 8472, flannel's and Linux's).
	Port int `json:"port,omitempty"`
	// mtu (default: the underlay MTU minus 50), bridge, network, ipamDir.
	network.PodArgs
}

// Factory builds a Planner from its arguments; builtin, process and WASM
// loaders all call it.
func Factory(raw sdk.Args, h sdk.Handle) (any, error) {
	var a Args
	if err := raw.Decode(&a); err != nil {
		return nil, fmt.Errorf("network backend %s: %w", Name, err)
	}
	if err := a.setDefaults(); err != nil {
		return nil, fmt.Errorf("network backend %s: %w", Name, err)
	}
	if h == nil {
		h = sdk.LoggerHandle{}
	}
	return &Planner{args: a, log: h}, nil
}

func (a *Args) setDefaults() error {
	if a.Device == "" {
		a.Device = DefaultDevice
	}
	if a.VNI == 0 {
		a.VNI = DefaultVNI
	}
	if a.Port == 0 {
		a.Port = DefaultPort
	}
	if err := a.PodArgs.SetDefaults(); err != nil {
		return err
	}
	switch {
	case a.VNI < 1 || a.VNI > MaxVNI:
		return fmt.Errorf("args.vni: must be between 1 and %d, got %d", MaxVNI, a.VNI)
	case a.Port < 1 || a.Port > 65535:
		return fmt.Errorf("args.port: must be between 1 and 65535, got %d", a.Port)
	case len(a.Device) > 15:
		return fmt.Errorf("args.device %q: device names are at most 15 characters", a.Device)
	case a.Device == a.Bridge:
		return fmt.Errorf("args.device and args.bridge: both are %q; the VXLAN device and the bridge need different names", a.Device)
	}
	return nil
}
