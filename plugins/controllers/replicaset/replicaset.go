// Package replicaset is the ReplicaSet controller: it keeps spec.replicas
// pods matching a ReplicaSet's selector, created from its template.
package replicaset

import (
	"context"
	"log/slog"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles ReplicaSets.
type Controller struct {
	client     *client.Client
	rsets      reconcile.Lister[*api.ReplicaSet]
	recorder   reconcile.Recorder
	clock      reconcile.Clock
	log        *slog.Logger
	exp        *internal.Expectations
	owned      *internal.OwnedPods[*api.ReplicaSet]
	podControl *internal.PodControl
	status     *internal.StatusBatcher
	// burst caps the creates or deletes of one reconcile, so one huge
	// ReplicaSet cannot starve the others or flood the API server.
	burst int
}

var _ reconcile.Reconciler = (*Controller)(nil)

// kind is the controller ownerReference kind this controller manages.
const kind = "ReplicaSet"

// Reconcile converges the ReplicaSet named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	rs, ok := c.rsets.GetByKey(key)
	if !ok {
		c.exp.Forget(key)
		c.status.Forget(key)
		return reconcile.Result{}, nil
	}
	sel, err := api.SelectorFromLabelSelector(rs.Spec.Selector)
	if err != nil {
		// Validation keeps bad selectors out; retrying cannot fix one.
		c.recorder.Eventf(rs, reconcile.EventWarning, "InvalidSelector", "spec.selector: %v", err)
		return reconcile.Result{}, nil
	}
	// Satisfied must be read before the pods: a create observed in between
	// would otherwise be counted neither as expected nor as present.
	satisfied := c.exp.Satisfied(key)
	claimed, claimErr := c.owned.Claim(ctx, c.client, rs, sel)
	active := make([]*api.Pod, 0, len(claimed))
	for _, p := range claimed {
		if api.IsPodActive(p) {
			active = append(active, p)
		}
	}
	var manageErr error
	if satisfied && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, rs, active)
	}
	now := c.clock.Now()
	status := computeStatus(rs, active, now)
	next := internal.Requeue(satisfied, active, rs.Spec.MinReadySeconds, now)
	updated := *rs // shallow: only Status changes, and it is replaced
	updated.Status = status
	return internal.FinishReconcile(ctx, c.client, c.status, &updated, statusChanged(&rs.Status, &status), isFinal(rs, &status), next, manageErr, claimErr)
}

// isFinal reports whether a status is worth writing at once: the
// ReplicaSet converged or its spec changed.
func isFinal(rs *api.ReplicaSet, st *api.ReplicaSetStatus) bool {
	want := internal.Replicas(rs.Spec.Replicas)
	return st.ObservedGeneration != rs.Status.ObservedGeneration ||
		(st.Replicas == want && st.AvailableReplicas == want && st.FullyLabeledReplicas == want)
}
