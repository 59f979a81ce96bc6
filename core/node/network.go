package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/skiff-sh/skiff/core/node/fabric"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/network"
)

// FabricConfig runs a multi-node network backend on the node: the agent
// plans the node's fabric with Plan from its peers (the other Nodes),
// applies it with core/node/fabric, publishes the plan's annotations on the
// Node and attaches pods with the plan's CNI configuration.
type FabricConfig struct {
	// Plan is the backend (a builtin's Plan or a call through the plugin
	// host); required.
	Plan fabric.PlanFunc
	// NewNetwork builds the pod network from the plan's CNI configuration
	// list (the bridge plugin's mechanism with Config.ConfList); required.
	NewNetwork func(podCIDR string, cniConfig []byte) (Network, error)
	// StateDir keeps the fabric's records and the last applied CNI
	// configuration (default DataDir/fabric).
	StateDir string
	// ServiceCIDR is handed to the backend.
	ServiceCIDR string
	// UnderlayMTU is the node uplink's MTU (default: the MTU of the
	// interface holding the node IP, else 1500).
	UnderlayMTU int
}

// CNIConfigFile is the file in FabricConfig.StateDir holding the CNI
// configuration list last applied, which a teardown uses to detach pods.
const CNIConfigFile = "cni.conflist"

func (c *FabricConfig) validate(dataDir string) error {
	var errs []error
	if c.Plan == nil {
		errs = append(errs, errors.New("fabric: a network backend (Plan) is required"))
	}
	if c.NewNetwork == nil {
		errs = append(errs, errors.New("fabric: a pod network factory (NewNetwork) is required"))
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(dataDir, "fabric")
	}
	return errors.Join(errs...)
}

// newNetwork builds the node's pod network for podCIDR: the configured
// factory's, or with a fabric a network that attaches pods once the
// backend's first plan is applied (startFabric).
func (a *Agent) newNetwork(podCIDR string) (Network, error) {
	fc := a.cfg.Fabric
	if fc == nil {
		return a.cfg.NewNetwork(podCIDR)
	}
	fab, err := fabric.New(fabric.Config{StateDir: fc.StateDir, Logger: a.log})
	if err != nil {
		return nil, err
	}
	return &fabricNetwork{cfg: fc, fab: fab, podCIDR: podCIDR, ready: make(chan struct{})}, nil
}

// startFabric keeps the node's fabric at the backend's plan for the current
// peers until ctx ends. It needs the registered Node: the plan's
// annotations are published on it.
func (a *Agent) startFabric(ctx context.Context) {
	fn, ok := a.net.(*fabricNetwork)
	if !ok {
		return
	}
	mtu := fn.cfg.UnderlayMTU
	if mtu == 0 {
		mtu = interfaceMTU(a.nodeIPs[0])
	}
	informers := reconcile.NewSharedInformerFactory(a.client, a.log)
	peers := fabric.WatchPeers(ctx, informers, a.cfg.NodeName)
	informers.Start(ctx)
	in := network.Input{
		Self:        network.NodeInfo{Name: a.cfg.NodeName, IP: a.nodeIPs[0], PodCIDR: fn.podCIDR},
		ClusterCIDR: a.cfg.ClusterCIDR, ServiceCIDR: fn.cfg.ServiceCIDR, UnderlayMTU: mtu,
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := fn.fab.Run(ctx, fabric.RunOptions{Plan: fn.cfg.Plan, Input: in, Peers: peers,
			Applied: func(ctx context.Context, plan network.Plan) {
				if first, err := fn.applied(plan); err != nil {
					a.log.Error("pod network from the backend's plan", "err", err)
				} else if first {
					a.log.Info("network fabric applied; pods attach with the backend's CNI configuration", "subnet", fn.podCIDR, "peers", len(in.Peers))
				}
				if err := fabric.PublishAnnotations(ctx, a.client, a.cfg.NodeName, plan.Annotations); err != nil {
					a.log.Warn("network annotations", "err", err)
				}
			}})
		if err != nil {
			a.log.Error("network fabric stopped", "err", err)
		}
	}()
}

// fabricNetwork is the pod network of a node with a fabric: it builds the
// bridge mechanism from the plan's CNI configuration when the first plan is
// applied (and again if a later plan changes it), and holds attachments
// until then.
type fabricNetwork struct {
	cfg     *FabricConfig
	fab     *fabric.Fabric
	podCIDR string

	ready     chan struct{} // closed once pods can attach
	mu        sync.Mutex
	pods      Network
	cniConfig []byte
}

var _ Network = (*fabricNetwork)(nil)

// applied takes a plan the fabric applied: a new CNI configuration becomes
// the pod network and is saved for a later teardown. first reports the
// plan that let pods attach.
func (n *fabricNetwork) applied(plan network.Plan) (first bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pods != nil && bytes.Equal(n.cniConfig, plan.CNIConfig) {
		return false, nil
	}
	pods, err := n.cfg.NewNetwork(n.podCIDR, plan.CNIConfig)
	if err != nil {
		return false, fmt.Errorf("CNI configuration of subnet %s: %w", n.podCIDR, err)
	}
	if err := os.WriteFile(filepath.Join(n.cfg.StateDir, CNIConfigFile), plan.CNIConfig, 0o600); err != nil {
		return false, fmt.Errorf("save the CNI configuration: %w", err)
	}
	first = n.pods == nil
	n.pods, n.cniConfig = pods, plan.CNIConfig
	if first {
		close(n.ready)
	}
	return first, nil
}

// current waits until the first plan is applied.
func (n *fabricNetwork) current(ctx context.Context) (Network, error) {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("pod network of subnet %s: no network plan applied yet: %w", n.podCIDR, ctx.Err())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pods, nil
}

func (n *fabricNetwork) Attach(ctx context.Context, pod PodRef) (Attachment, error) {
	pods, err := n.current(ctx)
	if err != nil {
		return Attachment{}, err
	}
	return pods.Attach(ctx, pod)
}

func (n *fabricNetwork) Detach(ctx context.Context, uid string) error {
	pods, err := n.current(ctx)
	if err != nil {
		return err
	}
	return pods.Detach(ctx, uid)
}

// TeardownFabric removes what a node's fabric configured (`skiffd agent
// --teardown`): first the pods' attachments, through teardownPods with the
// CNI configuration last applied (skipped when none was), then the fabric's
// devices, routes, rules and sysctls.
func TeardownFabric(ctx context.Context, stateDir string, teardownPods func(ctx context.Context, cniConfig []byte) error) error {
	var errs []error
	conf, err := os.ReadFile(filepath.Join(stateDir, CNIConfigFile))
	switch {
	case err == nil:
		if err := teardownPods(ctx, conf); err != nil {
			errs = append(errs, fmt.Errorf("pod network teardown: %w", err))
		}
	case !errors.Is(err, os.ErrNotExist):
		errs = append(errs, fmt.Errorf("pod network teardown: %w", err))
	}
	fab, err := fabric.New(fabric.Config{StateDir: stateDir})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if _, err := fab.Teardown(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.Remove(filepath.Join(stateDir, CNIConfigFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// interfaceMTU is the MTU of the interface holding ip, 1500 when none does.
func interfaceMTU(ip string) int {
	want := net.ParseIP(ip)
	ifaces, err := net.Interfaces()
	if err != nil || want == nil {
		return 1500
	}
	for _, iface := range ifaces {
		addrs, _ := iface.Addrs()
		for _, addr := range addrs {
			if ipn, ok := addr.(*net.IPNet); ok && ipn.IP.Equal(want) {
				return iface.MTU
			}
		}
	}
	return 1500
}
