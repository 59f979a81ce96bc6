package fabric

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/sdk/network"
)

// PlanFunc is the network backend as the agent reaches it: a builtin
// network.Plugin's Plan, or a call through the plugin host.
type PlanFunc func(ctx context.Context, in network.Input) (network.Plan, error)

// RunOptions drive Run.
type RunOptions struct {
	// Plan is the backend; required.
	Plan PlanFunc
	// Input is this node and the cluster settings; Run fills in Peers.
	Input network.Input
	// Peers delivers the current peer set each time it changes (WatchPeers
	// builds it from Node objects); required. Run returns when it closes.
	Peers <-chan []network.NodeInfo
	// Resync re-applies the last plan this often, repairing drift (a route
	// someone deleted); default 1 minute.
	Resync time.Duration
	// Applied is called after each successful Sync with the plan, e.g. to
	// publish Plan.Annotations on the Node and hand Plan.CNIConfig to the
	// pod network.
	Applied func(ctx context.Context, plan network.Plan)
	// RetryInterval is the wait after a failed plan or sync (default 5s).
	RetryInterval time.Duration
}

// Run keeps the fabric at the backend's plan for the latest peer set until
// ctx ends or Peers closes. Failures are logged and retried: one bad peer
// set must not stop the node's fabric.
func (f *Fabric) Run(ctx context.Context, o RunOptions) error {
	if o.Plan == nil || o.Peers == nil {
		return fmt.Errorf("network fabric: Run needs a planner and a peer channel")
	}
	if o.Resync <= 0 {
		o.Resync = time.Minute
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 5 * time.Second
	}
	var peers []network.NodeInfo
	have := false
	timer := time.NewTimer(o.Resync)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p, ok := <-o.Peers:
			if !ok {
				return nil
			}
			peers, have = p, true
		case <-timer.C:
		}
		next := o.Resync
		if have {
			if err := f.apply(ctx, o, peers); err != nil {
				f.cfg.Logger.Error("network fabric: will retry", "err", err, "in", o.RetryInterval)
				next = o.RetryInterval
			}
		}
		timer.Reset(next)
	}
}

func (f *Fabric) apply(ctx context.Context, o RunOptions, peers []network.NodeInfo) error {
	in := o.Input
	in.Peers = slices.Clone(peers)
	plan, err := o.Plan(ctx, in)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if _, err := f.Sync(ctx, plan); err != nil {
		return err
	}
	if o.Applied != nil {
		o.Applied(ctx, plan)
	}
	return nil
}
