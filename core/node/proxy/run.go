package proxy

import (
	"context"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// Run keeps the node's rules in step with the Service and Endpoints
// informers until ctx ends: every change triggers a plan and an Apply,
// coalesced to at most one per MinSyncInterval; a failed sync is retried
// with backoff; every ResyncPeriod the installed rules are re-read. Run
// waits for both informers to sync before the first Apply, so a restart
// never installs a partial view. It leaves the rules in place on return:
// call Teardown to remove them.
func (s *Syncer) Run(ctx context.Context, services, endpoints *reconcile.Informer) error {
	trigger := reconcile.HandlerFuncs{
		AddFunc:    func(api.Object) { s.Kick() },
		UpdateFunc: func(api.Object, api.Object) { s.Kick() },
		DeleteFunc: func(api.Object) { s.Kick() },
	}
	services.AddHandler(trigger)
	endpoints.AddHandler(trigger)
	if !services.WaitForSync(ctx) || !endpoints.WaitForSync(ctx) {
		return ctx.Err()
	}
	svcs := reconcile.NewLister[*api.Service](services)
	eps := reconcile.NewLister[*api.Endpoints](endpoints)
	endpointsOf := func(ns, name string) *api.Endpoints {
		ep, ok := eps.Get(ns, name)
		if !ok {
			return nil
		}
		return ep
	}
	base := sdkproxy.Input{NodeName: s.cfg.NodeName, NodeIPs: s.cfg.NodeIPs, ClusterCIDR: s.cfg.ClusterCIDR, MasqueradeBit: s.cfg.MasqueradeBit}
	resync := time.NewTicker(s.cfg.ResyncPeriod)
	defer resync.Stop()
	backoff := time.Duration(0)
	s.Kick()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
		case <-resync.C:
		}
		in := BuildInput(base, svcs.List("", nil), endpointsOf)
		rs, err := s.cfg.Planner.Rules(ctx, in)
		var st Stats
		if err == nil {
			st, err = s.Apply(ctx, rs)
		}
		if err != nil {
			backoff = min(max(2*backoff, s.cfg.MinSyncInterval), 30*time.Second)
			s.log.Error("proxy sync failed, retrying", "err", err, "retryIn", backoff)
			s.retryAfter(ctx, backoff)
			continue
		}
		backoff = 0
		s.log.Debug("proxy synced", "services", len(in.Services), "chainsWritten", st.ChainsWritten,
			"chainsDeleted", st.ChainsDeleted, "rules", st.RulesWritten, "fullRead", st.FullRead, "took", st.Duration)
		// Coalesce: changes arriving during the interval make one sync.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.MinSyncInterval):
		}
	}
}

// Kick asks Run for a sync soon.
func (s *Syncer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Syncer) retryAfter(ctx context.Context, d time.Duration) {
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(d):
			s.Kick()
		}
	}()
}
