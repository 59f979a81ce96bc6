package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/plugins/runtime/containerd"
	"github.com/skiff-sh/skiff/plugins/runtime/sim"
	sdkruntime "github.com/skiff-sh/skiff/sdk/runtime"
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
	// NodeIP is the node's InternalIP (default: the default route's address).
	NodeIP string `koanf:"node-ip"`
	// Listen is the agent's HTTPS endpoint for logs, exec and image import.
	Listen string `koanf:"listen"`
	// ClusterDNS are pods' nameservers (default: the node's resolv.conf).
	ClusterDNS []string `koanf:"cluster-dns"`
}

func defaultAgentConfig() AgentConfig {
	return AgentConfig{Enabled: true, Runtime: "containerd", ClusterCIDR: "10.244.0.0/16", Listen: ":10250"}
}

// startAgent runs a node agent against the API server of clientCfg until
// ctx ends; the runtime (and a private containerd) is closed on return,
// leaving containers running for the next agent to adopt.
func startAgent(ctx context.Context, cfg AgentConfig, svc ServicesConfig, dnsCfg DNSConfig, dataDir string, clientCfg *client.Config) error {
	if err := cfg.defaultNodeName(); err != nil {
		return err
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(dataDir, "agent")
	}
	c, err := client.New(clientCfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	services, err := nodeServices(svc, dnsCfg)
	if err != nil {
		return err
	}
	var rt sdkruntime.Plugin
	var newNetwork node.NetworkFactory
	prober := node.Prober(nil)
	switch cfg.Runtime {
	case "containerd", "":
		crt, err := containerd.Start(ctx, containerd.Config{
			Socket: cfg.ContainerdSocket, Namespace: "skiff-" + sanitize(cfg.NodeName),
			DataDir: filepath.Join(cfg.DataDir, "runtime"),
		})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer crt.Close()
		rt = crt
		newNetwork = func(subnet string) (node.Network, error) {
			n, err := bridge.New(bridge.Config{Subnet: subnet, DataDir: filepath.Join(cfg.DataDir, "network")})
			if err != nil {
				return nil, err
			}
			return bridgeNetwork{n}, nil
		}
	case sim.Name:
		rt, newNetwork, prober = sim.New(), sim.NewNetwork, node.AlwaysSucceed{}
		services = nil // simulated pods have no network to proxy or resolve in
	default:
		return fmt.Errorf("agent.runtime: %q is not a runtime: use containerd or sim", cfg.Runtime)
	}
	var ips []string
	if cfg.NodeIP != "" {
		if net.ParseIP(cfg.NodeIP) == nil {
			return fmt.Errorf("agent.node-ip: %q is not an IP address", cfg.NodeIP)
		}
		ips = []string{cfg.NodeIP}
	}
	a, err := node.New(node.Config{
		NodeName: cfg.NodeName, Client: c, Runtime: rt, NewNetwork: newNetwork, DataDir: cfg.DataDir,
		ClusterCIDR: cfg.ClusterCIDR, PodSubnet: cfg.PodSubnet, NodeIPs: ips, Listen: cfg.Listen,
		ClusterCAPEM: []byte(clientCfg.CertificateAuthorityData), Prober: prober, ClusterDNS: cfg.ClusterDNS,
		ClusterDomain: svc.ClusterDomain, Services: services,
		Logger: slog.Default(),
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
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

// newAgentCommand is `skiffd agent`: a node agent alone, against a remote
// API server.
func newAgentCommand() *cobra.Command {
	var server, token, caFile, dataDir string
	var teardown bool
	cfg := defaultAgentConfig()
	svc, dnsCfg := defaultServicesConfig(), DNSConfig{Enabled: true}
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN --ca-file CA.crt",
		Short: "Run a node agent that runs the pods bound to this node",
		Long: `Run a node agent against a remote API server. The token is any token the
server knows (DATA_DIR/tokens.yaml); the CA file is the server's DATA_DIR/pki/ca.crt
(also in admin.conf), which the agent needs both to trust the server and to
accept the server's proxy certificate for logs and exec.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := svc.validate(); err != nil {
				return err
			}
			if teardown {
				if err := cfg.defaultNodeName(); err != nil {
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
				return teardownServices(cmd.Context(), cfg.NodeName, svc, dnsCfg, cc)
			}
			if server == "" || token == "" {
				return errors.New("--server and --token are required")
			}
			cc := &client.Config{Server: server, Token: token}
			if caFile != "" {
				ca, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				cc.CertificateAuthorityData = string(ca)
			} else {
				// Without the CA the agent cannot verify the proxy: serve no
				// logs/exec endpoint rather than an unauthenticated one.
				slog.Warn("no --ca-file: logs, exec and image import are disabled on this node")
				cfg.Listen = ""
			}
			return startAgent(cmd.Context(), cfg, svc, dnsCfg, dataDir, cc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "API server URL, e.g. https://10.0.0.1:6443")
	f.StringVar(&token, "token", "", "bearer token")
	f.StringVar(&caFile, "ca-file", "", "PEM of the cluster CA")
	f.StringVar(&dataDir, "data-dir", "/var/lib/skiff", "directory for the agent's files")
	f.StringVar(&cfg.NodeName, "node-name", "", "node name (default: hostname)")
	f.StringVar(&cfg.Runtime, "runtime", cfg.Runtime, "containerd or sim")
	f.StringVar(&cfg.ContainerdSocket, "containerd-socket", "", "existing containerd socket (default: start a private containerd)")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "cluster pod CIDR the node's /24 is leased from")
	f.StringVar(&cfg.PodSubnet, "pod-subnet", "", "claim this /24 instead of the next free one")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "node InternalIP (default: the default route's address)")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "HOST:PORT of the agent's HTTPS endpoint for logs and exec")
	addServiceFlags(f, &svc, &dnsCfg)
	f.BoolVar(&teardown, "teardown", false, "remove this node's service proxy rules (and, with --server and --token, its cluster DNS registration), then exit")
	return cmd
}
