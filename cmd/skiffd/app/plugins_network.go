package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

// NetworkConfig selects the node's network backend and service proxy
// (key "network"). Each is a builtin's name or a map {process: PATH} or
// {wasm: PATH} (with optional name and sha256), loaded through the plugin
// host; the agent reads it at start.
type NetworkConfig struct {
	// Backend is bridge (one node), overlay (VXLAN) or routed, or an
	// external backend.
	Backend any `koanf:"backend"`
	// Args configure the backend (overlay: vni, port, device; all: mtu,
	// bridge, network, ipamDir).
	Args map[string]any `koanf:"args"`
	// Proxy is the service proxy planner (default iptables).
	Proxy any `koanf:"proxy"`
	// ProxyArgs configure the proxy planner.
	ProxyArgs map[string]any `koanf:"proxy-args"`
	// Timeout bounds one plan (default 30s: plans are rare, and a WASM
	// planner's first call at thousands of services takes a while).
	Timeout time.Duration `koanf:"timeout"`
}

// Backend and Proxy have no default value here: the decoder would then
// only accept values of the default's type (a name, not a map). specs
// fills them.
func defaultNetworkConfig() NetworkConfig {
	return NetworkConfig{Timeout: 30 * time.Second}
}

// Defaults of the network selection.
var (
	DefaultNetworkBackend = bridge.Name
	DefaultProxy          = iptables.Descriptor.Name
)

// specs maps the selection to plugin specs (network first, then proxy).
func (c *NetworkConfig) specs() ([]plugin.Spec, error) {
	if c.Timeout < 0 {
		return nil, fmt.Errorf("network.timeout: must be > 0, got %s", c.Timeout)
	}
	var out []plugin.Spec
	for _, sel := range []struct {
		key   string
		point sdk.Point
		value any
		args  map[string]any
	}{{"network.backend", sdk.PointNetwork, c.Backend, c.Args}, {"network.proxy", sdk.PointProxy, c.Proxy, c.ProxyArgs}} {
		if sel.value == nil {
			sel.value = map[sdk.Point]string{sdk.PointNetwork: DefaultNetworkBackend, sdk.PointProxy: DefaultProxy}[sel.point]
		}
		s, err := selectedSpec(sel.key, sel.point, sel.value)
		if err != nil {
			return nil, err
		}
		s.Args, s.Timeout = sel.args, c.Timeout
		out = append(out, s)
	}
	return out, nil
}

// selectedSpec reads a one-plugin selection: a builtin's name, or a map
// with process or wasm (and optionally name and sha256).
func selectedSpec(key string, point sdk.Point, value any) (plugin.Spec, error) {
	builtins := strings.Join(NewRegistry().Names(point), ", ")
	switch v := value.(type) {
	case string:
		if v == "" {
			return plugin.Spec{}, fmt.Errorf("%s: must be set: one of %s, {process: PATH} or {wasm: PATH}", key, builtins)
		}
		return plugin.Spec{Name: v, Point: point}, nil
	case map[string]any:
		s := plugin.Spec{Point: point}
		for k, raw := range v {
			str, ok := raw.(string)
			if !ok {
				return plugin.Spec{}, fmt.Errorf("%s.%s: must be a string, got %v", key, k, raw)
			}
			switch k {
			case "name":
				s.Name = str
			case "process":
				s.Process = str
			case "wasm":
				s.Wasm = str
			case "sha256":
				s.SHA256 = str
			default:
				return plugin.Spec{}, fmt.Errorf("%s.%s: unknown key; use name, process, wasm and sha256", key, k)
			}
		}
		if (s.Process == "") == (s.Wasm == "") {
			return plugin.Spec{}, fmt.Errorf("%s: set exactly one of process: PATH and wasm: PATH (for a builtin, give its name: %s)", key, builtins)
		}
		if s.Name == "" {
			s.Name = strings.TrimSuffix(filepath.Base(s.Path()), filepath.Ext(s.Path()))
		}
		return s, nil
	default:
		return plugin.Spec{}, fmt.Errorf("%s: want a builtin's name (%s) or {process: PATH} / {wasm: PATH}, got %v", key, builtins, value)
	}
}

// validate checks the selection without loading a process or module: an
// unknown backend or args the builtin refuses (a VNI out of range) stop
// skiffd at start, before it touches the machine.
func (c *NetworkConfig) validate() error {
	specs, err := c.specs()
	if err != nil {
		return err
	}
	if err := plugin.Validate(NewRegistry(), specs); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// NodePlugins are a node's network backend and service proxy, loaded into
// a plugin host of the node's own, with the host's deadline, metrics and
// failure handling on every call.
type NodePlugins struct {
	host           *plugin.Host
	network, proxy *plugin.Plugin
}

// StartNodePlugins validates and loads cfg's selection; WASM modules are
// compiled into cacheDir ("" keeps them in memory). Close unloads them.
func StartNodePlugins(cfg NetworkConfig, cacheDir string, metrics prometheus.Registerer, log *slog.Logger) (*NodePlugins, error) {
	specs, err := cfg.specs()
	if err != nil {
		return nil, err
	}
	if err := plugin.Validate(NewRegistry(), specs); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	host, err := plugin.NewHost(plugin.Options{Registry: NewRegistry(), Metrics: metrics, Logger: log, WasmCacheDir: cacheDir})
	if err != nil {
		return nil, err
	}
	if err := host.Apply(specs); err != nil {
		host.Close()
		return nil, fmt.Errorf("network: %w", err)
	}
	return &NodePlugins{host: host, network: host.Networks()[0], proxy: host.Proxies()[0]}, nil
}

// Backend is the network backend's configured name.
func (n *NodePlugins) Backend() string { return n.network.Name() }

// Plan runs the network backend; it is a fabric.PlanFunc.
func (n *NodePlugins) Plan(ctx context.Context, in network.Input) (network.Plan, error) {
	return n.network.Plan(ctx, in)
}

// Proxy is the service proxy planner, a proxy.Plugin for core/node/proxy.
func (n *NodePlugins) Proxy() *plugin.Plugin { return n.proxy }

// Status reports both plugins, as `skiff plugins` shows them.
func (n *NodePlugins) Status() []plugin.PluginStatus { return n.host.Status() }

// Close unloads both plugins.
func (n *NodePlugins) Close() error { return n.host.Close() }
