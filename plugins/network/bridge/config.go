package bridge

import (
	"encoding/json"
	"fmt"
	"net"
)

// The CNI version Debian's containernetworking-plugins (1.1.x) accept.
const cniVersion = "1.0.0"

// Defaults of the node's pod network.
const (
	DefaultBridge  = "skiff0"
	DefaultNetwork = "skiff"
	DefaultMTU     = 1500
)

// ConfListOptions describe a node's pod network for the standard CNI
// plugins.
type ConfListOptions struct {
	// Network names the network (host-local keeps its leases under
	// IPAMDir/<Network>).
	Network string
	// Bridge is the host bridge device the pods attach to.
	Bridge string
	// Subnet is the node's pod subnet, e.g. 10.244.3.0/24; the bridge gets
	// its first address and is the pods' gateway.
	Subnet string
	// MTU of the bridge and the pods' interfaces.
	MTU int
	// IPAMDir is host-local's data directory.
	IPAMDir string
	// NodeMasquerade leaves masquerading to the host (one rule for the
	// subnet, as Network installs) instead of the bridge plugin's per-pod
	// ipMasq.
	NodeMasquerade bool
}

// ConfList renders the CNI network configuration list: bridge (gateway,
// masquerade for traffic leaving the subnet) with host-local IPAM, plus
// loopback for the pod's lo.
func ConfList(o ConfListOptions) ([]byte, error) {
	_, subnet, err := net.ParseCIDR(o.Subnet)
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("pod subnet %q: must be an IPv4 CIDR such as 10.244.3.0/24", o.Subnet)
	}
	if ones, bits := subnet.Mask.Size(); bits-ones < 2 {
		return nil, fmt.Errorf("pod subnet %q: too small for a gateway and pods", o.Subnet)
	}
	if o.MTU < 576 || o.MTU > 65535 {
		return nil, fmt.Errorf("pod network MTU: must be between 576 and 65535, got %d", o.MTU)
	}
	if o.Network == "" || o.Bridge == "" || o.IPAMDir == "" {
		return nil, fmt.Errorf("pod network: network name, bridge and IPAM dir are required")
	}
	if len(o.Bridge) > 15 {
		return nil, fmt.Errorf("pod network bridge %q: device names are at most 15 characters", o.Bridge)
	}
	conf := map[string]any{
		"cniVersion": cniVersion,
		"name":       o.Network,
		"plugins": []any{
			map[string]any{
				"type":             "bridge",
				"bridge":           o.Bridge,
				"isGateway":        true,
				"ipMasq":           !o.NodeMasquerade,
				"hairpinMode":      true,
				"mtu":              o.MTU,
				"forceAddress":     false,
				"promiscMode":      false,
				"isDefaultGateway": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": o.IPAMDir,
					"ranges":  [][]map[string]string{{{"subnet": subnet.String()}}},
				},
			},
			map[string]any{"type": "loopback"},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}
