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
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles DaemonSets.
type Controller struct {
	client   *client.Client
	sets     reconcile.Lister[*api.DaemonSet]
	nodes    reconcile.Lister[*api.Node]
	pods     reconcile.Lister[*api.Pod]
	recorder reconcile.Recorder
	clock    reconcile.Clock
	log      *slog.Logger
	exp      *internal.Expectations
	status   *internal.StatusBatcher
	queue    *reconcile.Queue
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
	candidates := append(c.pods.ByIndex(reconcile.IndexController, ds.UID), c.pods.ByIndex(reconcile.IndexOrphan, ds.Namespace)...)
	pods, claimErr := internal.Claim(ctx, c.client, ds, sel, candidates)
	hash := TemplateHash(&ds.Spec.Template)
	now := c.clock.Now()
	plan, status := Decide(ds, c.nodes.List("", nil), pods, hash, now)
	var manageErr error
	if satisfied && ds.DeletionTimestamp == nil {
		manageErr = c.apply(ctx, ds, plan, hash)
	}
	var next reconcile.Result
	if statusChanged(&ds.Status, &status) {
		if wait := c.status.Delay(key, isFinal(ds, &status)); wait > 0 {
			next.RequeueAfter = wait
		} else {
			updated := *ds // shallow: only Status changes, and it is replaced
			updated.Status = status
			if _, err := client.UpdateStatus(ctx, c.client, &updated); err != nil && !api.IsNotFound(err) {
				return reconcile.Result{}, errors.Join(manageErr, claimErr, fmt.Errorf("daemonset %q: update status: %w", key, err))
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
		next.RequeueAfter = minPositive(next.RequeueAfter, internal.NextAvailableIn(p, ds.Spec.MinReadySeconds, now))
	}
	return next, nil
}

// minPositive is the shorter of two waits, 0 meaning none.
func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
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

// apply issues the plan's creates and deletes concurrently, recording
// expectations first so the next reconcile waits for them to be seen.
func (c *Controller) apply(ctx context.Context, ds *api.DaemonSet, plan Plan, hash string) error {
	key := ds.Key()
	deleteKeys := make([]string, len(plan.Delete))
	for i, p := range plan.Delete {
		deleteKeys[i] = p.Key()
	}
	c.exp.ExpectCreations(key, len(plan.CreateOn))
	c.exp.ExpectDeletions(key, deleteKeys)
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, node := range plan.CreateOn {
		wg.Go(func() {
			if err := c.createPod(ctx, ds, node, hash); err != nil {
				c.exp.CreationObserved(key) // it will never be seen
				fail(err)
			}
		})
	}
	for _, pod := range plan.Delete {
		wg.Go(func() {
			if err := c.deletePod(ctx, ds, pod); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) createPod(ctx context.Context, ds *api.DaemonSet, node, hash string) error {
	t := &ds.Spec.Template
	labels := maps.Clone(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[RevisionLabel] = hash
	spec := t.Spec // shallow: NodeName and Tolerations are replaced, nothing modified
	spec.NodeName = node
	spec.Tolerations = withDaemonTolerations(&t.Spec)
	pod := &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{
			Name:            internal.GenerateName(ds.Name),
			Namespace:       ds.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(t.Annotations),
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(ds)},
		},
		Spec: spec,
	}
	created, err := client.Create(ctx, c.client, pod)
	if err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(ds, reconcile.EventWarning, "FailedCreate", "Error creating pod on node %s: %v", node, err)
		}
		return fmt.Errorf("daemonset %q: create pod on node %q: %w", ds.Key(), node, err)
	}
	c.recorder.Eventf(ds, reconcile.EventNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, ds *api.DaemonSet, pod *api.Pod) error {
	uid := pod.UID
	err := client.Delete[*api.Pod](ctx, c.client, pod.Namespace, pod.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
	switch {
	case err == nil:
		c.recorder.Eventf(ds, reconcile.EventNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
		return nil
	case api.IsNotFound(err):
		c.exp.DeletionObserved(ds.Key(), pod.Key())
		return nil
	}
	c.exp.DeletionObserved(ds.Key(), pod.Key())
	if ctx.Err() == nil {
		c.recorder.Eventf(ds, reconcile.EventWarning, "FailedDelete", "Error deleting pod %s: %v", pod.Name, err)
	}
	return fmt.Errorf("daemonset %q: delete pod %q: %w", ds.Key(), pod.Name, err)
}
