// Package daemonset is the DaemonSet controller: it runs one pod of a
// DaemonSet on every eligible node, follows nodes as they come and go, and
// rolls template changes out node by node.
//
// Daemon pods are bound by the controller itself (spec.nodeName is set on
// create), as Kubernetes did before 1.12: a daemon must land on its node
// even when the node is full or cordoned, and the scheduler has no say.
package daemonset

import (
	"context"
	"log/slog"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles DaemonSets.
type Controller struct {
	client     *client.Client
	sets       reconcile.Lister[*api.DaemonSet]
	nodes      reconcile.Lister[*api.Node]
	recorder   reconcile.Recorder
	clock      reconcile.Clock
	log        *slog.Logger
	exp        *internal.Expectations
	owned      *internal.OwnedPods[*api.DaemonSet]
	podControl *internal.PodControl
	status     *internal.StatusBatcher
	queue      *reconcile.Queue
}

var _ reconcile.Reconciler = (*Controller)(nil)

const kind = "DaemonSet"

// Reconcile converges the DaemonSet named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ds, ok := c.sets.GetByKey(key)
	if !ok {
		c.exp.Forget(key)
		c.status.Forget(key)
		return reconcile.Result{}, nil
	}
	sel, err := api.SelectorFromLabelSelector(ds.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(ds, reconcile.EventWarning, "InvalidSelector", "spec.selector: %v", err)
		return reconcile.Result{}, nil
	}
	satisfied := c.exp.Satisfied(key)
	pods, claimErr := c.owned.Claim(ctx, c.client, ds, sel)
	hash := TemplateHash(&ds.Spec.Template)
	now := c.clock.Now()
	plan, status := Decide(ds, c.nodes.List("", nil), pods, hash, now)
	var manageErr error
	if satisfied && ds.DeletionTimestamp == nil {
		manageErr = c.apply(ctx, ds, plan, hash)
	}
	next := internal.Requeue(satisfied, pods, ds.Spec.MinReadySeconds, now)
	updated := *ds // shallow: only Status changes, and it is replaced
	updated.Status = status
	return internal.FinishReconcile(ctx, c.client, c.status, &updated, statusChanged(&ds.Status, &status), isFinal(ds, &status), next, manageErr, claimErr)
}

// isFinal reports whether a status is worth writing at once: the spec
// changed or every node runs a ready, available, updated daemon.
func isFinal(ds *api.DaemonSet, st *api.DaemonSetStatus) bool {
	d := st.DesiredNumberScheduled
	return st.ObservedGeneration != ds.Status.ObservedGeneration ||
		st.CurrentNumberScheduled == d && st.NumberReady == d && st.UpdatedNumberScheduled == d && st.NumberAvailable == d && st.NumberMisscheduled == 0
}

func statusChanged(a, b *api.DaemonSetStatus) bool {
	return a.CurrentNumberScheduled != b.CurrentNumberScheduled || a.NumberMisscheduled != b.NumberMisscheduled ||
		a.DesiredNumberScheduled != b.DesiredNumberScheduled || a.NumberReady != b.NumberReady ||
		a.ObservedGeneration != b.ObservedGeneration || a.UpdatedNumberScheduled != b.UpdatedNumberScheduled ||
		a.NumberAvailable != b.NumberAvailable || a.NumberUnavailable != b.NumberUnavailable
}

// apply issues the plan's creates and deletes.
func (c *Controller) apply(ctx context.Context, ds *api.DaemonSet, plan Plan, hash string) error {
	create := make([]*api.Pod, len(plan.CreateOn))
	for i, node := range plan.CreateOn {
		create[i] = newPod(ds, node, hash)
	}
	return c.podControl.Apply(ctx, ds, create, plan.Delete)
}

// newPod is the daemon pod of ds for node, bound to it and labelled with
// the template's hash.
func newPod(ds *api.DaemonSet, node, hash string) *api.Pod {
	pod := internal.PodFromTemplate(ds, &ds.Spec.Template)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[RevisionLabel] = hash
	pod.Spec.NodeName = node
	pod.Spec.Tolerations = withDaemonTolerations(&ds.Spec.Template.Spec)
	return pod
}
