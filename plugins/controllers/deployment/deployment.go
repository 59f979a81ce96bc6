// Package deployment is the Deployment controller: it rolls a Deployment's
// pod template out through ReplicaSets named <deployment>-<pod-template-hash>,
// with the RollingUpdate (maxSurge/maxUnavailable) or Recreate strategy,
// and reports progress in the Deployment's status and conditions.
package deployment

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Annotations and labels of the rollout contract (shared with the CLI).
const (
	// RevisionAnnotation is the rollout revision of a ReplicaSet, and of
	// the Deployment (its current revision).
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists earlier revisions a ReplicaSet had
	// before a rollback made it current again (comma-separated).
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation and MaxReplicasAnnotation record the
	// Deployment size a ReplicaSet was last scaled for: a different
	// spec.replicas means the user scaled, not rolled out.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	// ChangeCauseAnnotation is copied from the Deployment to the ReplicaSet
	// of each rollout, for `rollout history`.
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	// RestartedAtAnnotation in the pod template triggers a rollout with an
	// unchanged spec (`rollout restart`).
	RestartedAtAnnotation = "skiff.io/restartedAt"
	// PodTemplateHashLabel makes each ReplicaSet's selector and pods unique.
	PodTemplateHashLabel = "pod-template-hash"
)

// Controller reconciles Deployments.
type Controller struct {
	client   *client.Client
	deploys  reconcile.Lister[*api.Deployment]
	rsets    reconcile.Lister[*api.ReplicaSet]
	pods     reconcile.Lister[*api.Pod]
	recorder reconcile.Recorder
	clock    reconcile.Clock
	log      *slog.Logger
	status   *internal.StatusBatcher
}

var _ reconcile.Reconciler = (*Controller)(nil)

// keysForReplicaSet maps a ReplicaSet to its Deployment, or an orphan to
// every Deployment in its namespace whose selector matches it.
func (c *Controller) keysForReplicaSet(obj api.Object) []string {
	rs := obj.(*api.ReplicaSet)
	if ref := rs.ControllerRef(); ref != nil {
		if ref.Kind == "Deployment" {
			return []string{api.KeyOf(rs.Namespace, ref.Name)}
		}
		return nil
	}
	var keys []string
	for _, d := range c.deploys.List(rs.Namespace, nil) {
		if sel, err := api.SelectorFromLabelSelector(d.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(rs.Labels) {
			keys = append(keys, d.Key())
		}
	}
	return keys
}

// keysForPod maps a pod to the Deployment of its ReplicaSet: availability
// and the Recreate strategy depend on pods.
func (c *Controller) keysForPod(obj api.Object) []string {
	pod := obj.(*api.Pod)
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil
	}
	rs, ok := c.rsets.Get(pod.Namespace, ref.Name)
	if !ok {
		return nil
	}
	if dref := rs.ControllerRef(); dref != nil && dref.Kind == "Deployment" {
		return []string{api.KeyOf(rs.Namespace, dref.Name)}
	}
	return nil
}

// rollout is what one reconcile knows about a Deployment.
type rollout struct {
	d     *api.Deployment
	all   []*api.ReplicaSet // oldest first
	newRS *api.ReplicaSet   // nil until created
	// active pods per ReplicaSet UID.
	pods map[string][]*api.Pod
	now  time.Time
	// progress notes set while reconciling (new RS created, ...).
	createdRS string
}

func (r *rollout) old() []*api.ReplicaSet {
	out := make([]*api.ReplicaSet, 0, len(r.all))
	for _, rs := range r.all {
		if rs != r.newRS {
			out = append(out, rs)
		}
	}
	return out
}

// Reconcile converges the Deployment named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	d, ok := c.deploys.GetByKey(key)
	if !ok {
		c.status.Forget(key)
		return reconcile.Result{}, nil
	}
	sel, err := api.SelectorFromLabelSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation rejects these; a selector that selects everything
		// would adopt every ReplicaSet in the namespace.
		c.recorder.Event(d, reconcile.EventWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		return reconcile.Result{}, nil
	}
	candidates := append(c.rsets.ByIndex(reconcile.IndexController, d.UID), c.rsets.ByIndex(reconcile.IndexOrphan, d.Namespace)...)
	owned, claimErr := internal.Claim(ctx, c.client, d, sel, candidates)
	r := &rollout{d: d, pods: map[string][]*api.Pod{}, now: c.clock.Now()}
	for _, rs := range owned {
		if rs.DeletionTimestamp != nil {
			continue
		}
		r.all = append(r.all, rs)
		for _, p := range c.pods.ByIndex(reconcile.IndexController, rs.UID) {
			if api.IsPodActive(p) {
				r.pods[rs.UID] = append(r.pods[rs.UID], p)
			}
		}
	}
	sort.SliceStable(r.all, func(i, j int) bool { return olderFirst(r.all[i], r.all[j]) })
	r.newRS = findNewReplicaSet(d, r.all)

	var res reconcile.Result
	switch {
	case d.DeletionTimestamp != nil:
		res, err = c.syncStatus(ctx, r)
	case d.Spec.Paused || c.isScalingEvent(r):
		res, err = c.sync(ctx, r)
	case d.Spec.Strategy.Type == "Recreate":
		res, err = c.rolloutRecreate(ctx, r)
	default:
		res, err = c.rolloutRolling(ctx, r)
	}
	return res, errors.Join(err, claimErr)
}

// sync handles paused Deployments and scaling events: sizes change, the
// template does not roll out.
func (c *Controller) sync(ctx context.Context, r *rollout) (reconcile.Result, error) {
	if err := c.ensureRevision(ctx, r, false); err != nil {
		return reconcile.Result{}, err
	}
	if err := c.scale(ctx, r); err != nil {
		return reconcile.Result{}, err
	}
	if r.d.Spec.Paused {
		if err := c.cleanup(ctx, r); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncStatus(ctx, r)
}

// isScalingEvent reports whether spec.replicas differs from the size the
// active ReplicaSets were last scaled for.
func (c *Controller) isScalingEvent(r *rollout) bool {
	want := internal.Replicas(r.d.Spec.Replicas)
	for _, rs := range r.all {
		if internal.Replicas(rs.Spec.Replicas) == 0 {
			continue
		}
		if v, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && v != want {
			return true
		}
	}
	return false
}

func olderFirst(a, b *api.ReplicaSet) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
		return a.CreationTimestamp.Before(b.CreationTimestamp)
	}
	return a.Name < b.Name
}
