package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/core/subnet"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/plugins/runtime/containerd"
	"github.com/skiff-sh/skiff/plugins/runtime/sim"
)

// AgentConfig is the node agent's part of skiffd's configuration (key
// "agent"), used by `skiffd server` (the local agent) and `skiffd agent`.
type AgentConfig struct {
	// Enabled runs the local agent inside `skiffd server` (flag --agent).
	Enabled bool `koanf:"enabled"`
	// NodeName defaults to the hostname.
	NodeName string `koanf:"node-name"`
	// DataDir holds pod volumes, the agent's certificate and the runtime's
	// files (default DATA_DIR/agent).
	DataDir string `koanf:"data-dir"`
	// Runtime is containerd or sim.
	Runtime string `koanf:"runtime"`
	// ContainerdSocket is an existing containerd; empty starts a private one.
	ContainerdSocket string `koanf:"containerd-socket"`
	// ClusterCIDR is where node pod subnets are leased from; PodSubnet claims
	// a specific /24.
	ClusterCIDR string `koanf:"cluster-cidr"`
	PodSubnet   string `koanf:"pod-subnet"`
	// NodeIP is the node's InternalIP (default: the default route's
	// address); multi-node backends reach the node at it.
	NodeIP string `koanf:"node-ip"`
	// Listen is the agent's HTTPS endpoint for logs, exec and image import.
	Listen string `koanf:"listen"`
	// ClusterDNS are pods' nameservers (default: the node's resolv.conf).
	ClusterDNS []string `koanf:"cluster-dns"`
	// SeccompDir holds the node's seccomp profiles, which Localhost
	// seccompProfiles name relative to it (default DataDir/seccomp, as the
	// kubelet's <root-dir>/seccomp).
	SeccompDir string `koanf:"seccomp-dir"`
}

func defaultAgentConfig() AgentConfig {
	return AgentConfig{Enabled: true, Runtime: "containerd", ClusterCIDR: "10.244.0.0/16", Listen: ":10250"}
}

// runAgent runs a node agent with cfg's agent, network, services and dns
// keys against the API server of clientCfg until ctx ends. Everything is
// checked before the host is touched. The runtime (and a private
// containerd) and the network plugins are closed on return, leaving
// containers running for the next agent to adopt.
func runAgent(ctx context.Context, full *Config, clientCfg *client.Config) error {
	cfg := full.Agent
	if err := cfg.defaults(full.DataDir); err != nil {
		return err
	}
	ips, err := cfg.nodeIPs()
	if err != nil {
		return err
	}
	if _, err := subnet.ValidateClusterCIDR(cfg.ClusterCIDR, full.Services.CIDR, ips); err != nil {
		return fmt.Errorf("agent.cluster-cidr: %w", err)
	}
	c, err := client.New(clientCfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	services, err := nodeServices(full.Services, full.DNS)
	if err != nil {
		return err
	}
	nc := node.Config{
		NodeName: cfg.NodeName, Client: c, DataDir: cfg.DataDir, SeccompDir: cfg.SeccompDir,
		ClusterCIDR: cfg.ClusterCIDR, PodSubnet: cfg.PodSubnet, NodeIPs: ips, Listen: cfg.Listen,
		ClusterCAPEM: []byte(clientCfg.CertificateAuthorityData), ClusterDNS: cfg.ClusterDNS,
		ClusterDomain: full.Services.ClusterDomain, Services: services,
		Logger: slog.Default(),
	}
	switch cfg.Runtime {
	case "containerd", "":
		np, err := startAgentPlugins(full.Network, cfg.DataDir)
		if err != nil {
			return err
		}
		defer np.Close()
		services.Proxy = np.Proxy()
		if singleNode(full.Network) {
			nc.NewNetwork, nc.NetworkBackend = cfg.bridgeNetwork, bridge.Name
		} else {
			nc.Fabric = &node.FabricConfig{Plan: np.Plan, NewNetwork: cfg.plannedNetwork, StateDir: cfg.fabricDir(), ServiceCIDR: full.Services.CIDR}
		}
		crt, err := containerd.Start(ctx, containerd.Config{
			Socket: cfg.ContainerdSocket, Namespace: "skiff-" + sanitize(cfg.NodeName),
			DataDir: filepath.Join(cfg.DataDir, "runtime"),
		})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer crt.Close()
		nc.Runtime = crt
	case sim.Name:
		nc.Runtime, nc.NewNetwork, nc.Prober, nc.NetworkBackend = sim.New(), sim.NewNetwork, node.AlwaysSucceed{}, sim.Name
		nc.Services = nil // simulated pods have no network to proxy or resolve in
	default:
		return fmt.Errorf("agent.runtime: %q is not a runtime: use containerd or sim", cfg.Runtime)
	}
	a, err := node.New(nc)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// startAgentPlugins loads the network backend and the proxy. Builtin
// multi-node backends keep their address leases in the agent's data dir
// unless args.ipamDir says otherwise, as the bridge backend does.
func startAgentPlugins(cfg NetworkConfig, dataDir string) (*NodePlugins, error) {
	if name, ok := cfg.Backend.(string); ok && name != bridge.Name && cfg.Args["ipamDir"] == nil {
		args := map[string]any{"ipamDir": filepath.Join(dataDir, "network", "ipam")}
		for k, v := range cfg.Args {
			args[k] = v
		}
		cfg.Args = args
	}
	return StartNodePlugins(cfg, filepath.Join(dataDir, "plugin-cache"), nil, slog.Default())
}

// singleNode reports the builtin bridge backend: pods on one node's bridge
// with the generated CNI configuration, and no fabric.
func singleNode(cfg NetworkConfig) bool {
	name, ok := cfg.Backend.(string)
	return cfg.Backend == nil || ok && name == bridge.Name
}

func (cfg *AgentConfig) defaults(dataDir string) error {
	if err := cfg.defaultNodeName(); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dataDir, "agent")
	}
	if cfg.SeccompDir == "" {
		cfg.SeccompDir = filepath.Join(cfg.DataDir, "seccomp")
	}
	abs, err := filepath.Abs(cfg.SeccompDir)
	if err != nil {
		return fmt.Errorf("agent.seccomp-dir: %w", err)
	}
	cfg.SeccompDir = abs
	return nil
}

func (cfg *AgentConfig) nodeIPs() ([]string, error) {
	if cfg.NodeIP == "" {
		return nil, nil
	}
	if ip := net.ParseIP(cfg.NodeIP); ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("agent.node-ip: %q is not an IPv4 address", cfg.NodeIP)
	}
	return []string{cfg.NodeIP}, nil
}

func (cfg *AgentConfig) networkDir() string { return filepath.Join(cfg.DataDir, "network") }
func (cfg *AgentConfig) fabricDir() string  { return filepath.Join(cfg.networkDir(), "fabric") }

// bridgeNetwork is the single-node pod network of the bridge backend.
func (cfg *AgentConfig) bridgeNetwork(subnet string) (node.Network, error) {
	n, err := bridge.New(bridge.Config{Subnet: subnet, DataDir: cfg.networkDir()})
	if err != nil {
		return nil, err
	}
	return bridgeNetwork{n}, nil
}

// plannedNetwork attaches pods through the bridge plugin's CNI mechanism
// with a backend's planned configuration list.
func (cfg *AgentConfig) plannedNetwork(subnet string, conf []byte) (node.Network, error) {
	n, err := plannedBridge(subnet, cfg.networkDir(), conf)
	if err != nil {
		return nil, err
	}
	return bridgeNetwork{n}, nil
}

func plannedBridge(subnet, dir string, conf []byte) (*bridge.Network, error) {
	var list struct {
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(conf, &list); err != nil {
		return nil, fmt.Errorf("planned CNI configuration: %w", err)
	}
	bc := bridge.Config{Subnet: subnet, DataDir: dir, ConfList: conf}
	for _, p := range list.Plugins {
		if p.Type == "bridge" && p.Bridge != "" {
			bc.Bridge = p.Bridge
		}
	}
	return bridge.New(bc)
}

func sanitize(s string) string {
	out := []rune{}
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			out = append(out, r)
		} else if r >= 'A' && r <= 'Z' {
			out = append(out, r+('a'-'A'))
		}
	}
	return string(out)
}

// bridgeNetwork adapts the bridge plugin to node.Network.
type bridgeNetwork struct{ n *bridge.Network }

func (b bridgeNetwork) Attach(ctx context.Context, pod node.PodRef) (node.Attachment, error) {
	att, err := b.n.Attach(ctx, bridge.PodRef{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name})
	if err != nil {
		return node.Attachment{}, err
	}
	return node.Attachment{NetNSPath: att.NetNSPath, IPs: []net.IP{att.IP}}, nil
}

func (b bridgeNetwork) Detach(ctx context.Context, uid string) error { return b.n.Detach(ctx, uid) }

// agentFlagKeys maps `skiffd agent` flags to the configuration keys they
// override; the others (server, token, ca-file, teardown) are not keys.
var agentFlagKeys = map[string]string{
	"data-dir": "data-dir", "node-name": "agent.node-name", "runtime": "agent.runtime",
	"containerd-socket": "agent.containerd-socket", "cluster-cidr": "agent.cluster-cidr",
	"pod-subnet": "agent.pod-subnet", "node-ip": "agent.node-ip", "listen": "agent.listen",
	"seccomp-dir":  "agent.seccomp-dir",
	"service-cidr": "services.cidr", "cluster-domain": "services.cluster-domain", "dns": "dns.enabled",
	"network-backend": "network.backend",
}

// flagsAsKeys renames the flags the user set to their configuration keys,
// for loadConfig.
func flagsAsKeys(f *pflag.FlagSet) *pflag.FlagSet {
	keys := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	f.Visit(func(fl *pflag.Flag) {
		if key, ok := agentFlagKeys[fl.Name]; ok {
			alias := *fl
			// Set marks it set (only an unchanged flag is recorded); the
			// value stays the same.
			alias.Name, alias.Shorthand, alias.Changed = key, "", false
			keys.AddFlag(&alias)
			keys.Set(key, fl.Value.String())
		}
	})
	return keys
}

// newAgentCommand is `skiffd agent`: a node agent alone, against a remote
// API server.
func newAgentCommand() *cobra.Command {
	var server, token, caFile, configPath string
	var teardown bool
	def := defaultConfig()
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN --ca-file CA.crt [--config FILE]",
		Short: "Run a node agent that runs the pods bound to this node",
		Long: `Run a node agent against a remote API server. The token is any token the
server knows (DATA_DIR/tokens.yaml); the CA file is the server's DATA_DIR/pki/ca.crt
(also in admin.conf), which the agent needs both to trust the server and to
accept the server's proxy certificate for logs and exec.

The config file is skiffd's (conf/skiffd.yaml): the agent reads its agent,
network, services and dns keys; flags override them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath, flagsAsKeys(cmd.Flags()))
			if err != nil {
				return err
			}
			var cc *client.Config
			if server != "" && token != "" {
				cc = &client.Config{Server: server, Token: token}
				if caFile != "" {
					ca, err := os.ReadFile(caFile)
					if err != nil {
						return fmt.Errorf("--ca-file: %w", err)
					}
					cc.CertificateAuthorityData = string(ca)
				}
			}
			if teardown {
				return teardownAgent(cmd.Context(), cfg, cc)
			}
			if cc == nil {
				return errors.New("--server and --token are required")
			}
			if caFile == "" {
				// Without the CA the agent cannot verify the proxy: serve no
				// logs/exec endpoint rather than an unauthenticated one.
				slog.Warn("no --ca-file: logs, exec and image import are disabled on this node")
				cfg.Agent.Listen = ""
			}
			return runAgent(cmd.Context(), cfg, cc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "config file (see conf/skiffd.yaml): agent, network, services and dns keys")
	f.StringVar(&server, "server", "", "API server URL, e.g. https://10.0.0.1:6443")
	f.StringVar(&token, "token", "", "bearer token")
	f.StringVar(&caFile, "ca-file", "", "PEM of the cluster CA")
	f.String("data-dir", def.DataDir, "directory for the agent's files (data-dir)")
	f.String("node-name", "", "node name (default: hostname)")
	f.String("runtime", def.Agent.Runtime, "containerd or sim")
	f.String("containerd-socket", "", "existing containerd socket (default: start a private containerd)")
	f.String("cluster-cidr", def.Agent.ClusterCIDR, "cluster pod CIDR the node's /24 is leased from")
	f.String("pod-subnet", "", "claim this /24 instead of the next free one")
	f.String("node-ip", "", "node InternalIP, where peers reach the node (default: the default route's address)")
	f.String("listen", def.Agent.Listen, "HOST:PORT of the agent's HTTPS endpoint for logs and exec")
	f.String("seccomp-dir", "", "directory of the node's seccomp profiles, which Localhost seccompProfiles name (agent.seccomp-dir; default DATA_DIR/agent/seccomp)")
	f.String("service-cidr", def.Services.CIDR, "cluster IP range (services.cidr; must match the server's): the DNS is its tenth address")
	f.String("cluster-domain", def.Services.ClusterDomain, "DNS domain of Services (services.cluster-domain)")
	f.Bool("dns", def.DNS.Enabled, "run the cluster DNS on this node and point pods at it (dns.enabled)")
	f.String("network-backend", DefaultNetworkBackend, "network backend: bridge (one node), overlay or routed (network.backend; args in the config file)")
	f.BoolVar(&teardown, "teardown", false, "remove this node's network fabric, pod attachments and service proxy rules (and, with --server and --token, its cluster DNS registration), then exit")
	return cmd
}

// teardownAgent removes what the agent configured on the host: the service
// proxy's rules, the fabric and the pods' attachments, and, with a client,
// the node's cluster DNS registration.
func teardownAgent(ctx context.Context, full *Config, cc *client.Config) error {
	cfg := full.Agent
	if err := cfg.defaults(full.DataDir); err != nil {
		return err
	}
	np, err := startAgentPlugins(full.Network, cfg.DataDir)
	if err != nil {
		return err
	}
	defer np.Close()
	sc, err := nodeServices(full.Services, full.DNS)
	if err != nil {
		return err
	}
	sc.Proxy = np.Proxy()
	var c *client.Client
	if cc != nil {
		if c, err = client.New(cc); err != nil {
			return fmt.Errorf("agent teardown: %w", err)
		}
	}
	errs := []error{node.TeardownServices(ctx, c, cfg.NodeName, sc)}
	if _, err := os.Stat(cfg.fabricDir()); err == nil {
		errs = append(errs, node.TeardownFabric(ctx, cfg.fabricDir(), func(ctx context.Context, conf []byte) error {
			pods, err := plannedBridge("", cfg.networkDir(), conf)
			if err != nil {
				return err
			}
			return pods.Teardown(ctx)
		}))
	}
	return errors.Join(errs...)
}
