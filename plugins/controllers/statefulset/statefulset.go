// Package statefulset is the StatefulSet controller: pods with stable names
// <set>-0..N-1 and a stable hostname under the set's service, created,
// deleted and updated in ordinal order.
package statefulset

import (
	"context"
	"log/slog"
	"maps"
	"strconv"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles StatefulSets.
type Controller struct {
	client     *client.Client
	sets       reconcile.Lister[*api.StatefulSet]
	recorder   reconcile.Recorder
	clock      reconcile.Clock
	log        *slog.Logger
	exp        *internal.Expectations
	owned      *internal.OwnedPods[*api.StatefulSet]
	podControl *internal.PodControl
	status     *internal.StatusBatcher
}

var _ reconcile.Reconciler = (*Controller)(nil)

const kind = "StatefulSet"

// Reconcile converges the StatefulSet named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	set, ok := c.sets.GetByKey(key)
	if !ok {
		c.exp.Forget(key)
		c.status.Forget(key)
		return reconcile.Result{}, nil
	}
	sel, err := api.SelectorFromLabelSelector(set.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(set, reconcile.EventWarning, "InvalidSelector", "spec.selector: %v", err)
		return reconcile.Result{}, nil
	}
	satisfied := c.exp.Satisfied(key)
	pods, claimErr := c.owned.Claim(ctx, c.client, set, sel)
	updateRev := Revision(set)
	currentRev := set.Status.CurrentRevision
	if currentRev == "" {
		currentRev = updateRev
	}
	var manageErr error
	if satisfied && set.DeletionTimestamp == nil {
		manageErr = c.apply(ctx, set, pods, Decide(set, pods, currentRev, updateRev), currentRev, updateRev)
	}
	now := c.clock.Now()
	status := ComputeStatus(set, pods, currentRev, updateRev, now)
	next := internal.Requeue(satisfied, pods, set.Spec.MinReadySeconds, now)
	updated := *set // shallow: only Status changes, and it is replaced
	updated.Status = status
	return internal.FinishReconcile(ctx, c.client, c.status, &updated, statusChanged(&set.Status, &status), isFinal(set, &status), next, manageErr, claimErr)
}

// isFinal reports whether a status is worth writing at once: the spec or
// the current revision changed, or every replica is ready and updated.
func isFinal(set *api.StatefulSet, st *api.StatefulSetStatus) bool {
	want := internal.Replicas(set.Spec.Replicas)
	return st.ObservedGeneration != set.Status.ObservedGeneration || st.CurrentRevision != set.Status.CurrentRevision ||
		st.Replicas == want && st.ReadyReplicas == want && st.UpdatedReplicas == want
}

func statusChanged(a, b *api.StatefulSetStatus) bool {
	return a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.ReadyReplicas != b.ReadyReplicas ||
		a.CurrentReplicas != b.CurrentReplicas || a.UpdatedReplicas != b.UpdatedReplicas || a.AvailableReplicas != b.AvailableReplicas ||
		a.CurrentRevision != b.CurrentRevision || a.UpdateRevision != b.UpdateRevision
}

func (c *Controller) apply(ctx context.Context, set *api.StatefulSet, pods []*api.Pod, plan Plan, currentRev, updateRev string) error {
	create := make([]*api.Pod, len(plan.Create))
	for i, cr := range plan.Create {
		create[i] = newPod(set, pods, cr, currentRev, updateRev)
	}
	return c.podControl.Apply(ctx, set, create, plan.Delete)
}

// newPod builds the pod of one ordinal. A pod at the current revision while
// the template has moved on (below the partition) is made from a surviving
// pod of that revision: skiff keeps no ControllerRevision history, so with
// none left it falls back to the current template.
func newPod(set *api.StatefulSet, pods []*api.Pod, cr Create, currentRev, updateRev string) *api.Pod {
	labels, annotations, spec := set.Spec.Template.Labels, set.Spec.Template.Annotations, set.Spec.Template.Spec
	revision := updateRev
	if cr.Revision != updateRev {
		for _, p := range pods {
			if p.Labels[RevisionLabel] == currentRev {
				labels, annotations, spec, revision = p.Labels, p.Annotations, p.Spec, currentRev
				spec.NodeName = ""
				break
			}
		}
	}
	name := PodName(set, cr.Ordinal)
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[PodNameLabel] = name
	labels[PodIndexLabel] = strconv.Itoa(cr.Ordinal)
	labels[RevisionLabel] = revision
	spec.Hostname = name
	spec.Subdomain = set.Spec.ServiceName
	return &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{
			Name:            name,
			Namespace:       set.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(annotations),
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(set)},
		},
		Spec: spec,
	}
}
