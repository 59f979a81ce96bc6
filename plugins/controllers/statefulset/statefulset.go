// Package statefulset is the StatefulSet controller: pods with stable names
// <set>-0..N-1 and a stable hostname under the set's service, created,
// deleted and updated in ordinal order.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles StatefulSets.
type Controller struct {
	client   *client.Client
	sets     reconcile.Lister[*api.StatefulSet]
	pods     reconcile.Lister[*api.Pod]
	recorder reconcile.Recorder
	clock    reconcile.Clock
	log      *slog.Logger
	exp      *internal.Expectations
	status   *internal.StatusBatcher
	queue    *reconcile.Queue
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
	candidates := append(c.pods.ByIndex(reconcile.IndexController, set.UID), c.pods.ByIndex(reconcile.IndexOrphan, set.Namespace)...)
	pods, claimErr := internal.Claim(ctx, c.client, set, sel, candidates)
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
	var next reconcile.Result
	if statusChanged(&set.Status, &status) {
		if wait := c.status.Delay(key, isFinal(set, &status)); wait > 0 {
			next.RequeueAfter = wait
		} else {
			updated := *set // shallow: only Status changes, and it is replaced
			updated.Status = status
			if _, err := client.UpdateStatus(ctx, c.client, &updated); err != nil && !api.IsNotFound(err) {
				return reconcile.Result{}, errors.Join(manageErr, claimErr, fmt.Errorf("statefulset %q: update status: %w", key, err))
			}
			c.status.Wrote(key)
		}
	}
	if err := errors.Join(manageErr, claimErr); err != nil {
		return reconcile.Result{}, err
	}
	if !satisfied {
		// Writes not yet seen are trusted only this long.
		next.RequeueAfter = minPositive(next.RequeueAfter, internal.ExpectationsTimeout)
	}
	for _, p := range pods {
		next.RequeueAfter = minPositive(next.RequeueAfter, internal.NextAvailableIn(p, set.Spec.MinReadySeconds, now))
	}
	return next, nil
}

// isFinal reports whether a status is worth writing at once: the spec or
// the current revision changed, or every replica is ready and updated.
func isFinal(set *api.StatefulSet, st *api.StatefulSetStatus) bool {
	want := internal.Replicas(set.Spec.Replicas)
	return st.ObservedGeneration != set.Status.ObservedGeneration || st.CurrentRevision != set.Status.CurrentRevision ||
		st.Replicas == want && st.ReadyReplicas == want && st.UpdatedReplicas == want
}

// minPositive is the shorter of two waits, 0 meaning none.
func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

func statusChanged(a, b *api.StatefulSetStatus) bool {
	return a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.ReadyReplicas != b.ReadyReplicas ||
		a.CurrentReplicas != b.CurrentReplicas || a.UpdatedReplicas != b.UpdatedReplicas || a.AvailableReplicas != b.AvailableReplicas ||
		a.CurrentRevision != b.CurrentRevision || a.UpdateRevision != b.UpdateRevision
}

func (c *Controller) apply(ctx context.Context, set *api.StatefulSet, pods []*api.Pod, plan Plan, currentRev, updateRev string) error {
	key := set.Key()
	deleteKeys := make([]string, len(plan.Delete))
	for i, p := range plan.Delete {
		deleteKeys[i] = p.Key()
	}
	c.exp.ExpectCreations(key, len(plan.Create))
	c.exp.ExpectDeletions(key, deleteKeys)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, cr := range plan.Create {
		pod := c.newPod(set, pods, cr, currentRev, updateRev)
		wg.Go(func() {
			if err := c.createPod(ctx, set, pod); err != nil {
				c.exp.CreationObserved(key)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	for _, pod := range plan.Delete {
		wg.Go(func() {
			if err := c.deletePod(ctx, set, pod); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newPod builds the pod of one ordinal. A pod at the current revision while
// the template has moved on (below the partition) is made from a surviving
// pod of that revision: skiff keeps no ControllerRevision history, so with
// none left it falls back to the current template.
func (c *Controller) newPod(set *api.StatefulSet, pods []*api.Pod, cr Create, currentRev, updateRev string) *api.Pod {
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

func (c *Controller) createPod(ctx context.Context, set *api.StatefulSet, pod *api.Pod) error {
	_, err := client.Create(ctx, c.client, pod)
	switch {
	case err == nil:
		c.recorder.Eventf(set, reconcile.EventNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
		return nil
	case api.IsAlreadyExists(err):
		// Names are stable, so a repeated create cannot duplicate a pod:
		// the one there (not yet in the cache) is reconciled when it is.
		c.exp.CreationObserved(set.Key())
		return nil
	}
	if ctx.Err() == nil {
		c.recorder.Eventf(set, reconcile.EventWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
	}
	return fmt.Errorf("statefulset %q: create pod %q: %w", set.Key(), pod.Name, err)
}

func (c *Controller) deletePod(ctx context.Context, set *api.StatefulSet, pod *api.Pod) error {
	uid := pod.UID
	err := client.Delete[*api.Pod](ctx, c.client, pod.Namespace, pod.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
	if err == nil {
		c.recorder.Eventf(set, reconcile.EventNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
		return nil
	}
	c.exp.DeletionObserved(set.Key(), pod.Key())
	if api.IsNotFound(err) {
		return nil
	}
	if ctx.Err() == nil {
		c.recorder.Eventf(set, reconcile.EventWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
	}
	return fmt.Errorf("statefulset %q: delete pod %q: %w", set.Key(), pod.Name, err)
}
