package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/subnet"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// Well-known names the agent shares with the rest of the cluster.
const (
	// LeaseNamespace holds one Lease per node, renewed as its heartbeat.
	LeaseNamespace = "skiff-node-lease"
	// SystemNamespace holds the pod subnet allocations (core/subnet).
	SystemNamespace = subnet.Namespace
	// AnnotationAgentEndpoint is the agent's HTTPS base URL on its Node.
	AnnotationAgentEndpoint = "skiff.sh/agent-endpoint"
	// AnnotationAgentCert is the PEM of the agent's self-signed serving
	// certificate, which the API server pins.
	AnnotationAgentCert = "skiff.sh/agent-cert"
	// ProxyClientName is the common name of the client certificate the API
	// server presents to agents; agents accept no other.
	ProxyClientName = "skiff-apiserver-proxy"
	// LabelHostname is the node's hostname label.
	LabelHostname = "skiff.io/hostname"
)

// Network attaches pods to the node's pod network. The bridge plugin
// (through a thin adapter) and the simulated network implement it.
type Network interface {
	// Attach creates the pod's network and returns it; attaching an
	// attached pod returns its existing attachment.
	Attach(ctx context.Context, pod PodRef) (Attachment, error)
	// Detach releases the pod's address and namespace; detaching a pod that
	// is gone succeeds.
	Detach(ctx context.Context, uid string) error
}

// PodRef names a pod for the network.
type PodRef struct{ UID, Namespace, Name string }

// Attachment is a pod's network namespace and addresses.
type Attachment struct {
	NetNSPath string
	IPs       []net.IP
}

// NetworkFactory builds the node's network once its pod subnet is known.
type NetworkFactory func(podCIDR string) (Network, error)

// Config configures an Agent.
type Config struct {
	// NodeName is the Node this agent runs; required.
	NodeName string
	// Client talks to the API server; required. Agents may share one.
	Client *client.Client
	// Runtime runs the containers; required.
	Runtime runtime.Plugin
	// NewNetwork builds the pod network for the node's subnet; required
	// unless Fabric is set.
	NewNetwork NetworkFactory
	// Fabric runs a multi-node network backend (network.go) whose plans
	// configure the node and its pod network; nil uses NewNetwork alone.
	Fabric *FabricConfig
	// Pods delivers the pods bound to this node. Nil starts a watch of its
	// own; thousands of agents in one process share one PodWatch.
	Pods *PodWatch
	// DataDir holds volumes and per-pod files (DataDir/pods/<uid>); required.
	DataDir string
	// SeccompDir holds the node's seccomp profiles: a Localhost
	// seccompProfile names a file relative to it (default DataDir/seccomp,
	// as the kubelet's <root-dir>/seccomp).
	SeccompDir string
	// ClusterCIDR is where pod subnets are leased from (default
	// 10.244.0.0/16); PodSubnet claims a specific /24 instead of the next
	// free one.
	ClusterCIDR string
	PodSubnet   string
	// NodeIPs are the node's InternalIP addresses (default: the address of
	// the default route's interface).
	NodeIPs []string
	// Hostname is reported as the Hostname address and label (default
	// NodeName).
	Hostname string
	// Labels are added to the Node's labels.
	Labels map[string]string
	// Capacity overrides the detected cpu, memory and pods capacity.
	Capacity api.ResourceList
	// Listen is the address of the HTTPS endpoint for logs, exec and image
	// import (e.g. ":10250"); empty serves none.
	Listen string
	// ClusterCAPEM verifies the API server's client certificate on Listen;
	// required when Listen is set.
	ClusterCAPEM []byte
	// Prober runs probes (default: exec through the runtime, httpGet and
	// tcpSocket against the pod IP). Simulated nodes use AlwaysSucceed.
	Prober Prober
	// ClusterDNS are the nameservers of pods with dnsPolicy ClusterFirst
	// (default: the node's own resolv.conf); ClusterDomain defaults to
	// cluster.local.
	ClusterDNS    []string
	ClusterDomain string
	// Services runs the service proxy and cluster DNS (services.go); nil
	// runs neither.
	Services *ServicesConfig
	// LeaseInterval is how often the Lease is renewed (default 10 s);
	// StatusInterval how often the Ready heartbeat is written when nothing
	// changed (default 60 s); ResyncInterval how often each pod is looked at
	// without a trigger (default 10 s).
	LeaseInterval, StatusInterval, ResyncInterval time.Duration
	// NetworkBackend is published in the Node's skiff.io/network-backend
	// annotation (`get nodes -o wide` BACKEND) when Fabric is nil; a
	// fabric's backend publishes its own name with its plan.
	NetworkBackend string
	// Events writes the pod events the agent records (Pulled, Started,
	// Unhealthy, ...). Nil: the agent writes them through Client itself;
	// agents hosted in one process may share one sink, which the caller runs.
	Events *reconcile.EventSink
	// Logger receives the agent's messages (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	if c.Client == nil {
		errs = append(errs, errors.New("client is required"))
	}
	if c.Runtime == nil {
		errs = append(errs, errors.New("runtime is required"))
	}
	if c.Fabric != nil {
		if err := c.Fabric.validate(c.DataDir); err != nil {
			errs = append(errs, err)
		}
	} else if c.NewNetwork == nil {
		errs = append(errs, errors.New("network factory is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required"))
	}
	if c.Listen != "" && len(c.ClusterCAPEM) == 0 {
		errs = append(errs, fmt.Errorf("listen %s: the cluster CA is required to verify the API server (pass --ca-file)", c.Listen))
	}
	if len(errs) > 0 {
		return fmt.Errorf("node agent %q: %w", c.NodeName, errors.Join(errs...))
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.244.0.0/16"
	}
	if c.SeccompDir == "" {
		c.SeccompDir = filepath.Join(c.DataDir, "seccomp")
	}
	if c.Hostname == "" {
		c.Hostname = c.NodeName
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.LeaseInterval <= 0 {
		c.LeaseInterval = 10 * time.Second
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 60 * time.Second
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("node", c.NodeName)
	return nil
}
