package deployment

import (
	"context"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// resolveFenceposts turns maxSurge and maxUnavailable (numbers or
// percentages of replicas) into pod counts as Kubernetes does: surge rounds
// up, unavailable rounds down, and if both come out 0 unavailable becomes 1
// so a rollout can always proceed.
func resolveFenceposts(d *api.Deployment) (surge, unavailable int32) {
	if d.Spec.Strategy.Type == "Recreate" || d.Spec.Strategy.RollingUpdate == nil {
		return 0, 0
	}
	replicas := int(internal.Replicas(d.Spec.Replicas))
	ru := d.Spec.Strategy.RollingUpdate
	s, err1 := scaledValue(ru.MaxSurge, replicas, true)
	u, err2 := scaledValue(ru.MaxUnavailable, replicas, false)
	if err1 != nil || err2 != nil {
		return 0, 1
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

func scaledValue(v *intstr.IntOrString, total int, roundUp bool) (int, error) {
	if v == nil {
		// API defaults: 25% each.
		def := intstr.FromString("25%")
		v = &def
	}
	return intstr.GetScaledValueFromIntOrPercent(v, total, roundUp)
}

// currentPods counts pods that exist or are about to: for each ReplicaSet
// the larger of its spec and its live pods, so a scale-up never overtakes
// pods of a scale-down that are still there.
func (r *rollout) currentPods() int32 {
	var n int32
	for _, rs := range r.all {
		n += max(internal.Replicas(rs.Spec.Replicas), int32(len(r.pods[rs.UID])))
	}
	return n
}

// available counts rs's available pods, at most its spec: pods above the
// spec are about to be deleted and must not be counted on.
func (r *rollout) available(rs *api.ReplicaSet) int32 {
	var n int32
	for _, p := range r.pods[rs.UID] {
		if internal.IsPodAvailable(p, r.d.Spec.MinReadySeconds, r.now) {
			n++
		}
	}
	return min(n, internal.Replicas(rs.Spec.Replicas))
}

func (c *Controller) rolloutRolling(ctx context.Context, r *rollout) (reconcile.Result, error) {
	if err := c.ensureRevision(ctx, r, true); err != nil {
		return reconcile.Result{}, err
	}
	want := internal.Replicas(r.d.Spec.Replicas)
	surge, maxUnavailable := resolveFenceposts(r.d)

	// Scale the new ReplicaSet up as far as maxSurge allows.
	newSize := internal.Replicas(r.newRS.Spec.Replicas)
	switch {
	case newSize > want:
		if err := c.scaleReplicaSet(ctx, r, r.newRS, want); err != nil {
			return reconcile.Result{}, err
		}
		return c.syncStatus(ctx, r)
	case newSize < want:
		room := want + surge - r.currentPods()
		if up := min(room, want-newSize); up > 0 {
			if err := c.scaleReplicaSet(ctx, r, r.newRS, newSize+up); err != nil {
				return reconcile.Result{}, err
			}
			return c.syncStatus(ctx, r)
		}
	}

	// Scale old ReplicaSets down as far as maxUnavailable allows.
	scaledDown, err := c.scaleDownOld(ctx, r, want, maxUnavailable)
	if err != nil || scaledDown {
		if err != nil {
			return reconcile.Result{}, err
		}
		return c.syncStatus(ctx, r)
	}
	if r.complete() {
		if err := c.cleanup(ctx, r); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncStatus(ctx, r)
}

// scaleDownOld first removes unhealthy old pods (they count for nothing),
// then available old pods while at least replicas-maxUnavailable stay
// available. Oldest ReplicaSets go first.
func (c *Controller) scaleDownOld(ctx context.Context, r *rollout, want, maxUnavailable int32) (bool, error) {
	old := r.old()
	var oldSpec, allSpec int32
	for _, rs := range r.all {
		allSpec += internal.Replicas(rs.Spec.Replicas)
	}
	for _, rs := range old {
		oldSpec += internal.Replicas(rs.Spec.Replicas)
	}
	if oldSpec == 0 {
		return false, nil
	}
	minAvailable := want - maxUnavailable
	newUnavailable := internal.Replicas(r.newRS.Spec.Replicas) - r.available(r.newRS)
	budget := allSpec - minAvailable - newUnavailable
	if budget <= 0 {
		return false, nil
	}
	scaled := false
	for _, rs := range old {
		if budget <= 0 {
			break
		}
		size := internal.Replicas(rs.Spec.Replicas)
		unhealthy := size - r.available(rs)
		if size == 0 || unhealthy <= 0 {
			continue
		}
		down := min(budget, unhealthy)
		if err := c.scaleReplicaSet(ctx, r, rs, size-down); err != nil {
			return scaled, err
		}
		budget -= down
		scaled = true
	}

	var availableNow int32
	for _, rs := range r.all {
		availableNow += r.available(rs)
	}
	excess := availableNow - minAvailable
	for _, rs := range r.old() {
		if excess <= 0 {
			break
		}
		size := internal.Replicas(rs.Spec.Replicas)
		if size == 0 {
			continue
		}
		down := min(size, excess)
		if err := c.scaleReplicaSet(ctx, r, rs, size-down); err != nil {
			return scaled, err
		}
		excess -= down
		scaled = true
	}
	return scaled, nil
}

func (c *Controller) rolloutRecreate(ctx context.Context, r *rollout) (reconcile.Result, error) {
	if err := c.ensureRevision(ctx, r, false); err != nil {
		return reconcile.Result{}, err
	}
	scaled := false
	for _, rs := range r.old() {
		if internal.Replicas(rs.Spec.Replicas) > 0 {
			if err := c.scaleReplicaSet(ctx, r, rs, 0); err != nil {
				return reconcile.Result{}, err
			}
			scaled = true
		}
	}
	if scaled {
		return c.syncStatus(ctx, r)
	}
	// The new pods start only once every old pod is gone.
	for _, rs := range r.old() {
		if len(r.pods[rs.UID]) > 0 {
			return c.syncStatus(ctx, r)
		}
	}
	if r.newRS == nil {
		if err := c.ensureRevision(ctx, r, true); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := c.scaleReplicaSet(ctx, r, r.newRS, internal.Replicas(r.d.Spec.Replicas)); err != nil {
		return reconcile.Result{}, err
	}
	if r.complete() {
		if err := c.cleanup(ctx, r); err != nil {
			return reconcile.Result{}, err
		}
	}
	return c.syncStatus(ctx, r)
}

// scale resizes ReplicaSets to a new spec.replicas without rolling out.
// With one active ReplicaSet (or none) the current one takes the new size;
// during a rollout the change is spread over the active ReplicaSets in
// proportion to their sizes (rounding leftovers to the newest), keeping the
// total within replicas+maxSurge.
func (c *Controller) scale(ctx context.Context, r *rollout) error {
	want := internal.Replicas(r.d.Spec.Replicas)
	var active []*api.ReplicaSet
	for _, rs := range r.all {
		if internal.Replicas(rs.Spec.Replicas) > 0 {
			active = append(active, rs)
		}
	}
	if len(active) <= 1 {
		target := r.newRS
		if len(active) == 1 {
			target = active[0]
		}
		if target == nil {
			return nil
		}
		return c.scaleReplicaSet(ctx, r, target, want)
	}
	surge, _ := resolveFenceposts(r.d)
	sizes := proportionalSizes(active, want+surge)
	for i, rs := range active {
		if err := c.scaleReplicaSet(ctx, r, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// proportionalSizes spreads allowed pods over active (oldest first) in
// proportion to their current sizes.
func proportionalSizes(active []*api.ReplicaSet, allowed int32) []int32 {
	var total int32
	for _, rs := range active {
		total += internal.Replicas(rs.Spec.Replicas)
	}
	sizes := make([]int32, len(active))
	var assigned int32
	for i, rs := range active {
		sizes[i] = int32(int64(internal.Replicas(rs.Spec.Replicas)) * int64(allowed) / int64(total))
		assigned += sizes[i]
	}
	leftover := allowed - assigned
	// Rounding down leaves leftovers; the newest ReplicaSets take them.
	for i := len(sizes) - 1; leftover > 0; i = (i - 1 + len(sizes)) % len(sizes) {
		sizes[i]++
		leftover--
	}
	return sizes
}

// complete reports whether every replica runs the current template and is
// available, with no old pods left.
func (r *rollout) complete() bool {
	if r.newRS == nil {
		return false
	}
	want := internal.Replicas(r.d.Spec.Replicas)
	var total int32
	for _, rs := range r.all {
		total += int32(len(r.pods[rs.UID]))
	}
	return internal.Replicas(r.newRS.Spec.Replicas) == want && int32(len(r.pods[r.newRS.UID])) == want &&
		total == want && r.available(r.newRS) == want
}
