package replicaset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// manage creates or deletes pods so that len(active) reaches spec.replicas.
func (c *Controller) manage(ctx context.Context, rs *api.ReplicaSet, active []*api.Pod) error {
	want := int(internal.Replicas(rs.Spec.Replicas))
	diff := len(active) - want
	key := rs.Key()
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		c.exp.ExpectCreations(key, n)
		return c.createPods(ctx, rs, n)
	case diff > 0:
		n := min(diff, c.burst)
		victims := podsToDelete(active, n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = p.Key()
		}
		c.exp.ExpectDeletions(key, keys)
		return c.deletePods(ctx, rs, victims)
	}
	return nil
}

// createPods creates n pods in batches of 1, 2, 4, ...: if the first create
// fails (quota, admission, a bad template), the rest are not attempted.
func (c *Controller) createPods(ctx context.Context, rs *api.ReplicaSet, n int) error {
	key := rs.Key()
	remaining := n
	for batch := 1; remaining > 0; batch *= 2 {
		size := min(batch, remaining)
		errs := make(chan error, size)
		var wg sync.WaitGroup
		for range size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.createPod(ctx, rs); err != nil {
					c.exp.CreationObserved(key) // it will never be seen
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		remaining -= size
		var failed []error
		for err := range errs {
			failed = append(failed, err)
		}
		if len(failed) > 0 {
			for range remaining {
				c.exp.CreationObserved(key)
			}
			return errors.Join(failed...)
		}
	}
	return nil
}

// createPod creates one pod from the template; a taken random name is
// retried with a new one.
func (c *Controller) createPod(ctx context.Context, rs *api.ReplicaSet) error {
	pod := podFromTemplate(rs)
	var err error
	for range 3 {
		pod.Name = internal.GenerateName(rs.Name)
		var created *api.Pod
		created, err = client.Create(ctx, c.client, pod)
		if err == nil {
			c.recorder.Eventf(rs, reconcile.EventNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
			return nil
		}
		if !api.IsAlreadyExists(err) {
			break
		}
	}
	if ctx.Err() == nil {
		c.recorder.Eventf(rs, reconcile.EventWarning, "FailedCreate", "Error creating: %v", err)
	}
	return fmt.Errorf("replicaset %q: create pod: %w", rs.Key(), err)
}

// podFromTemplate builds a pod controlled by rs. The spec is shared with the
// cached ReplicaSet, not copied: it is only serialised, never modified.
func podFromTemplate(rs *api.ReplicaSet) *api.Pod {
	t := &rs.Spec.Template
	return &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{
			Namespace:       rs.Namespace,
			Labels:          maps.Clone(t.Labels),
			Annotations:     maps.Clone(t.Annotations),
			Finalizers:      t.Finalizers,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(rs)},
		},
		Spec: t.Spec,
	}
}

func (c *Controller) deletePods(ctx context.Context, rs *api.ReplicaSet, victims []*api.Pod) error {
	key := rs.Key()
	errs := make(chan error, len(victims))
	var wg sync.WaitGroup
	for _, pod := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := pod.UID
			err := client.Delete[*api.Pod](ctx, c.client, pod.Namespace, pod.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
			switch {
			case err == nil:
				c.recorder.Eventf(rs, reconcile.EventNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
			case api.IsNotFound(err):
				// Already gone: the delete event may never come for us.
				c.exp.DeletionObserved(key, pod.Key())
			default:
				c.exp.DeletionObserved(key, pod.Key())
				if ctx.Err() == nil {
					c.recorder.Eventf(rs, reconcile.EventWarning, "FailedDelete", "Error deleting pod %s: %v", pod.Name, err)
				}
				errs <- fmt.Errorf("replicaset %q: delete pod %q: %w", key, pod.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
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
