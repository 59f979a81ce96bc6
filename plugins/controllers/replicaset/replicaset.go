// Package replicaset is the ReplicaSet controller: it keeps spec.replicas
// pods matching a ReplicaSet's selector, created from its template.
package replicaset

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles ReplicaSets.
type Controller struct {
	client   *client.Client
	rsets    reconcile.Lister[*api.ReplicaSet]
	pods     reconcile.Lister[*api.Pod]
	recorder reconcile.Recorder
	clock    reconcile.Clock
	log      *slog.Logger
	exp      *internal.Expectations
	status   *internal.StatusBatcher
	// burst caps the creates or deletes of one reconcile, so one huge
	// ReplicaSet cannot starve the others or flood the API server.
	burst int
	queue *reconcile.Queue
}

var _ reconcile.Reconciler = (*Controller)(nil)

// kind is the controller ownerReference kind this controller manages.
const kind = "ReplicaSet"

func (c *Controller) rsKey(pod *api.Pod) (string, bool) {
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != kind {
		return "", false
	}
	rs, ok := c.rsets.Get(pod.Namespace, ref.Name)
	if !ok || rs.UID != ref.UID {
		return "", false
	}
	return rs.Key(), true
}

// enqueueMatching queues the ReplicaSets an orphan pod could be adopted by.
func (c *Controller) enqueueMatching(pod *api.Pod) {
	for _, rs := range c.rsets.List(pod.Namespace, nil) {
		if sel, err := api.SelectorFromLabelSelector(rs.Spec.Selector); err == nil && sel.Matches(pod.Labels) {
			c.queue.Add(rs.Key())
		}
	}
}

func (c *Controller) podAdded(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := c.rsKey(pod); ok {
		if pod.DeletionTimestamp != nil {
			c.exp.DeletionObserved(key, pod.Key())
		} else {
			c.exp.CreationObserved(key)
		}
		c.queue.Add(key)
		return
	}
	if pod.ControllerRef() == nil && pod.DeletionTimestamp == nil {
		c.enqueueMatching(pod)
	}
}

func (c *Controller) podUpdated(oldObj, newObj api.Object) {
	oldPod, pod := oldObj.(*api.Pod), newObj.(*api.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return
	}
	key, owned := c.rsKey(pod)
	if owned && pod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		// A graceful delete has begun: for counting it is gone already.
		c.exp.DeletionObserved(key, pod.Key())
	}
	if oldKey, ok := c.rsKey(oldPod); ok && (!owned || oldKey != key) {
		c.queue.Add(oldKey)
	}
	if owned {
		c.queue.Add(key)
	} else if pod.ControllerRef() == nil && pod.DeletionTimestamp == nil {
		c.enqueueMatching(pod)
	}
}

func (c *Controller) podDeleted(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := c.rsKey(pod); ok {
		c.exp.DeletionObserved(key, pod.Key())
		c.queue.Add(key)
	}
}

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
	candidates := append(c.pods.ByIndex(reconcile.IndexController, rs.UID), c.pods.ByIndex(reconcile.IndexOrphan, rs.Namespace)...)
	claimed, claimErr := internal.Claim(ctx, c.client, rs, sel, candidates)
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
	requeue := nextAvailableCheck(rs, active, now)
	if statusChanged(&rs.Status, &status) {
		if wait := c.status.Delay(key, isFinal(rs, &status)); wait > 0 {
			requeue = minPositive(requeue, wait)
		} else {
			updated := *rs // shallow: only Status changes, and it is replaced
			updated.Status = status
			if _, err := client.UpdateStatus(ctx, c.client, &updated); err != nil && !api.IsNotFound(err) {
				return reconcile.Result{}, errors.Join(manageErr, claimErr, err)
			}
			c.status.Wrote(key)
		}
	}
	if err := errors.Join(manageErr, claimErr); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// isFinal reports whether a status is worth writing at once: the
// ReplicaSet converged or its spec changed.
func isFinal(rs *api.ReplicaSet, st *api.ReplicaSetStatus) bool {
	want := internal.Replicas(rs.Spec.Replicas)
	return st.ObservedGeneration != rs.Status.ObservedGeneration ||
		(st.Replicas == want && st.AvailableReplicas == want && st.FullyLabeledReplicas == want)
}

func minPositive(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}
