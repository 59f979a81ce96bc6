package deployment

import (
	"context"
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Condition types and reasons, as Kubernetes names them.
const (
	ConditionAvailable   = "Available"
	ConditionProgressing = "Progressing"

	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonPaused                     = "DeploymentPaused"
	ReasonResumed                    = "DeploymentResumed"
)

// syncStatus ends a reconcile with at most one status write, of the whole
// status, and says when to look again (the progress deadline, pods
// becoming available, a batched write falling due). A write that moves the
// rollout's state (a new observedGeneration, the Progressing condition's
// status, completion) goes at once; one that moves counts, the Available
// condition or the Progressing condition's time waits up to
// internal.StatusInterval, as the replicaset controller's counts do, so a
// rollout step costs one write rather than one per pod transition.
func (c *Controller) syncStatus(ctx context.Context, r *rollout) (reconcile.Result, error) {
	status, requeue := computeStatus(r)
	changed := !statusEqual(&r.d.Status, &status)
	final := r.complete() || status.ObservedGeneration != r.d.Status.ObservedGeneration ||
		conditionStatus(&r.d.Status, ConditionProgressing) != conditionStatus(&status, ConditionProgressing)
	if changed {
		if cond := getCondition(&status, ConditionProgressing); cond != nil && cond.Reason == ReasonProgressDeadlineExceeded {
			// A change of the condition's status: written at once.
			if old := getCondition(&r.d.Status, ConditionProgressing); old == nil || old.Reason != ReasonProgressDeadlineExceeded {
				c.recorder.Event(r.d, reconcile.EventWarning, ReasonProgressDeadlineExceeded, cond.Message)
			}
		}
	}
	updated := *r.d // shallow: only Status is replaced
	updated.Status = status
	return internal.FinishReconcile(ctx, c.client, c.status, &updated, changed, final, requeue)
}

// computeStatus derives the status from the live pods of each ReplicaSet.
func computeStatus(r *rollout) (api.DeploymentStatus, time.Duration) {
	d := r.d
	want := internal.Replicas(d.Spec.Replicas)
	st := api.DeploymentStatus{
		ObservedGeneration: d.Generation,
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         append([]api.DeploymentCondition(nil), d.Status.Conditions...),
	}
	var requeue time.Duration
	for _, rs := range r.all {
		for _, p := range r.pods[rs.UID] {
			st.Replicas++
			if rs == r.newRS {
				st.UpdatedReplicas++
			}
			if api.IsPodReady(p) {
				st.ReadyReplicas++
			}
			if internal.IsPodAvailable(p, d.Spec.MinReadySeconds, r.now) {
				st.AvailableReplicas++
			} else if next := internal.NextAvailableIn(p, d.Spec.MinReadySeconds, r.now); next > 0 && (requeue == 0 || next < requeue) {
				requeue = next
			}
		}
	}
	st.UnavailableReplicas = max(0, want-st.AvailableReplicas)

	_, maxUnavailable := resolveFenceposts(d)
	now := r.now.UTC().Truncate(time.Second)
	if st.AvailableReplicas >= want-maxUnavailable {
		setCondition(&st, condition(ConditionAvailable, api.ConditionTrue, ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&st, condition(ConditionAvailable, api.ConditionFalse, ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now))
	}
	if wait := progress(r, &st, now); wait > 0 && (requeue == 0 || wait < requeue) {
		requeue = wait
	}
	return st, requeue
}

// progress maintains the Progressing condition and returns how long until
// the progress deadline would pass (0 when no deadline is pending).
func progress(r *rollout, st *api.DeploymentStatus, now time.Time) time.Duration {
	d := r.d
	if d.Spec.ProgressDeadlineSeconds == nil {
		removeCondition(st, ConditionProgressing)
		return 0
	}
	cur := getCondition(st, ConditionProgressing)
	if d.Spec.Paused {
		if cur == nil || cur.Reason != ReasonPaused {
			setCondition(st, condition(ConditionProgressing, api.ConditionUnknown, ReasonPaused, "Deployment is paused", now))
		}
		return 0
	}
	if cur != nil && cur.Reason == ReasonPaused {
		// Resuming restarts the clock.
		setCondition(st, condition(ConditionProgressing, api.ConditionUnknown, ReasonResumed, "Deployment is resumed", now))
		cur = getCondition(st, ConditionProgressing)
	}
	rsName := ""
	if r.newRS != nil {
		rsName = r.newRS.Name
	}
	switch {
	case r.newRS != nil && r.complete() && d.Generation <= st.ObservedGeneration:
		if cur == nil || cur.Reason != ReasonNewReplicaSetAvailable {
			setCondition(st, condition(ConditionProgressing, api.ConditionTrue, ReasonNewReplicaSetAvailable,
				fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName), now))
		}
		return 0
	case r.createdRS != "":
		setCondition(st, condition(ConditionProgressing, api.ConditionTrue, ReasonNewReplicaSetCreated,
			fmt.Sprintf("Created new replica set %q", r.createdRS), now))
	case cur == nil || madeProgress(&d.Status, st) || cur.Reason == ReasonNewReplicaSetAvailable:
		setCondition(st, condition(ConditionProgressing, api.ConditionTrue, ReasonReplicaSetUpdated,
			fmt.Sprintf("ReplicaSet %q is progressing.", rsName), now))
	}
	cur = getCondition(st, ConditionProgressing)
	if cur.Reason == ReasonProgressDeadlineExceeded {
		return 0
	}
	deadline := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	if !now.Before(deadline) {
		setCondition(st, condition(ConditionProgressing, api.ConditionFalse, ReasonProgressDeadlineExceeded,
			fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName), now))
		return 0
	}
	return deadline.Sub(now) + time.Second
}

// madeProgress: more updated, ready or available pods, or fewer old ones.
func madeProgress(old, cur *api.DeploymentStatus) bool {
	return cur.UpdatedReplicas > old.UpdatedReplicas || cur.ReadyReplicas > old.ReadyReplicas ||
		cur.AvailableReplicas > old.AvailableReplicas ||
		cur.Replicas-cur.UpdatedReplicas < old.Replicas-old.UpdatedReplicas
}

func condition(typ, status, reason, message string, now time.Time) api.DeploymentCondition {
	return api.DeploymentCondition{Type: typ, Status: status, Reason: reason, Message: message, LastUpdateTime: now, LastTransitionTime: now}
}

func getCondition(st *api.DeploymentStatus, typ string) *api.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition replaces the condition of c's type. An unchanged status and
// reason keep the old times for Available (it is re-derived every time) and
// the transition time for the rest.
func setCondition(st *api.DeploymentStatus, c api.DeploymentCondition) {
	old := getCondition(st, c.Type)
	if old == nil {
		st.Conditions = append(st.Conditions, c)
		return
	}
	if old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
		if old.Reason == c.Reason && c.Type == ConditionAvailable {
			c.LastUpdateTime = old.LastUpdateTime
		}
	}
	*old = c
}

func removeCondition(st *api.DeploymentStatus, typ string) {
	out := st.Conditions[:0]
	for _, c := range st.Conditions {
		if c.Type != typ {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

func statusEqual(a, b *api.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas ||
		a.UnavailableReplicas != b.UnavailableReplicas || len(a.Conditions) != len(b.Conditions) ||
		(a.CollisionCount == nil) != (b.CollisionCount == nil) || (a.CollisionCount != nil && *a.CollisionCount != *b.CollisionCount) {
		return false
	}
	return conditionsEqual(a.Conditions, b.Conditions)
}

func conditionsEqual(a, b []api.DeploymentCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message ||
			!x.LastUpdateTime.Equal(y.LastUpdateTime) || !x.LastTransitionTime.Equal(y.LastTransitionTime) {
			return false
		}
	}
	return true
}

// conditionStatus is the status of st's condition typ, "" when absent.
func conditionStatus(st *api.DeploymentStatus, typ string) string {
	if c := getCondition(st, typ); c != nil {
		return c.Status
	}
	return ""
}
