package replicaset

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// manage creates or deletes pods so that len(active) reaches spec.replicas.
func (c *Controller) manage(ctx context.Context, rs *api.ReplicaSet, active []*api.Pod) error {
	want := int(internal.Replicas(rs.Spec.Replicas))
	switch diff := len(active) - want; {
	case diff < 0:
		n := min(-diff, c.burst)
		c.exp.ExpectCreations(rs.Key(), n)
		return c.createPods(ctx, rs, n)
	case diff > 0:
		return c.podControl.Apply(ctx, rs, nil, podsToDelete(active, min(diff, c.burst)))
	}
	return nil
}

// createPods creates n pods in batches of 1, 2, 4, ...: if the first create
// fails (quota, admission, a bad template), the rest are not attempted.
func (c *Controller) createPods(ctx context.Context, rs *api.ReplicaSet, n int) error {
	remaining := n
	for batch := 1; remaining > 0; batch *= 2 {
		size := min(batch, remaining)
		errs := make([]error, size)
		var wg sync.WaitGroup
		for i := range size {
			wg.Go(func() { errs[i] = c.podControl.Create(ctx, rs, internal.PodFromTemplate(rs, &rs.Spec.Template)) })
		}
		wg.Wait()
		remaining -= size
		if err := errors.Join(errs...); err != nil {
			for range remaining {
				c.exp.CreationObserved(rs.Key()) // never attempted
			}
			return err
		}
	}
	return nil
}

// podsToDelete picks the n pods whose loss hurts least: unscheduled before
// scheduled, Pending before Unknown before Running, not ready before ready,
// ready for a shorter time first, more restarts first, newest first.
func podsToDelete(pods []*api.Pod, n int) []*api.Pod {
	ranked := append([]*api.Pod(nil), pods...)
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j]) })
	return ranked[:n]
}

var phaseRank = map[string]int{api.PodPending: 0, api.PodUnknown: 1, api.PodRunning: 2}

func deleteFirst(a, b *api.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; ra != rb {
		return ra < rb
	}
	readyA, readyB := api.IsPodReady(a), api.IsPodReady(b)
	if readyA != readyB {
		return !readyA
	}
	if readyA {
		ta := api.GetPodCondition(&a.Status, api.PodReady).LastTransitionTime
		tb := api.GetPodCondition(&b.Status, api.PodReady).LastTransitionTime
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
	}
	if ca, cb := maxRestarts(a), maxRestarts(b); ca != cb {
		return ca > cb
	}
	if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
		return a.CreationTimestamp.After(b.CreationTimestamp)
	}
	return a.Name > b.Name
}

func maxRestarts(p *api.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n = max(n, cs.RestartCount)
	}
	return n
}
