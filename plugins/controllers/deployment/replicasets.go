package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// TemplateHash is the pod-template-hash of a template: FNV-32a over its
// JSON encoding (map keys sorted, so stable) and, after name collisions,
// the collision count; rendered in Kubernetes' safe alphabet.
func TemplateHash(t *api.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, err := json.Marshal(t)
	if err != nil {
		panic("deployment: encode pod template: " + err.Error())
	}
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return internal.SafeEncode(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// templateKey is a template's encoding without the pod-template-hash label,
// so a ReplicaSet's template compares equal to the Deployment's it came from.
func templateKey(t *api.PodTemplateSpec) string {
	if _, ok := t.Labels[PodTemplateHashLabel]; ok {
		cp := *t
		cp.Labels = maps.Clone(t.Labels)
		delete(cp.Labels, PodTemplateHashLabel)
		t = &cp
	}
	data, err := json.Marshal(t)
	if err != nil {
		panic("deployment: encode pod template: " + err.Error())
	}
	return string(data)
}

// findNewReplicaSet returns the oldest ReplicaSet whose template is the
// Deployment's (all is oldest first).
func findNewReplicaSet(d *api.Deployment, all []*api.ReplicaSet) *api.ReplicaSet {
	want := templateKey(&d.Spec.Template)
	for _, rs := range all {
		if templateKey(&rs.Spec.Template) == want {
			return rs
		}
	}
	return nil
}

func intAnnotation(obj api.Object, name string) (int32, bool) {
	v, ok := obj.GetObjectMeta().Annotations[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return int32(n), err == nil
}

func revisionOf(obj api.Object) int64 {
	n, _ := strconv.ParseInt(obj.GetObjectMeta().Annotations[RevisionAnnotation], 10, 64)
	return n
}

func (r *rollout) maxOldRevision() int64 {
	var m int64
	for _, rs := range r.old() {
		m = max(m, revisionOf(rs))
	}
	return m
}

// ensureRevision makes sure the new ReplicaSet (creating it when create is
// set) and the Deployment carry the newest revision.
func (c *Controller) ensureRevision(ctx context.Context, r *rollout, create bool) error {
	newRevision := r.maxOldRevision() + 1
	switch {
	case r.newRS != nil:
		if err := c.updateNewRevision(ctx, r, newRevision); err != nil {
			return err
		}
	case create:
		if err := c.createNewReplicaSet(ctx, r, newRevision); err != nil {
			return err
		}
	default:
		return nil
	}
	rev := r.newRS.Annotations[RevisionAnnotation]
	if r.d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	cp := api.DeepCopy(r.d)
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	cp.Annotations[RevisionAnnotation] = rev
	updated, err := client.Update(ctx, c.client, cp)
	if err != nil {
		return fmt.Errorf("deployment %q: record revision %s: %w", r.d.Key(), rev, err)
	}
	r.d = updated
	return nil
}

// updateNewRevision moves an existing ReplicaSet that became current again
// (a rollback, or a template changed back) to the newest revision,
// remembering the revisions it had.
func (c *Controller) updateNewRevision(ctx context.Context, r *rollout, newRevision int64) error {
	rs := r.newRS
	cur := revisionOf(rs)
	cause, hasCause := r.d.Annotations[ChangeCauseAnnotation]
	needRevision := cur < newRevision
	needCause := hasCause && rs.Annotations[ChangeCauseAnnotation] != cause
	if !needRevision && !needCause && rs.Spec.MinReadySeconds == r.d.Spec.MinReadySeconds {
		return nil
	}
	cp := api.DeepCopy(rs)
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	if needRevision {
		if cur > 0 {
			history := slices.DeleteFunc(strings.Split(cp.Annotations[RevisionHistoryAnnotation], ","), func(s string) bool { return s == "" })
			cp.Annotations[RevisionHistoryAnnotation] = strings.Join(append(history, strconv.FormatInt(cur, 10)), ",")
		}
		cp.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
	}
	if needCause {
		cp.Annotations[ChangeCauseAnnotation] = cause
	}
	cp.Spec.MinReadySeconds = r.d.Spec.MinReadySeconds
	updated, err := client.Update(ctx, c.client, cp)
	if err != nil {
		return fmt.Errorf("deployment %q: update replica set %q: %w", r.d.Key(), rs.Name, err)
	}
	r.replace(rs, updated)
	return nil
}

// createNewReplicaSet creates <deployment>-<hash> for the current template.
func (c *Controller) createNewReplicaSet(ctx context.Context, r *rollout, revision int64) error {
	d := r.d
	hash := TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	template := copyTemplate(&d.Spec.Template)
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[PodTemplateHashLabel] = hash
	selector := &api.LabelSelector{MatchLabels: maps.Clone(d.Spec.Selector.MatchLabels), MatchExpressions: d.Spec.Selector.MatchExpressions}
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[PodTemplateHashLabel] = hash
	replicas := newReplicaSetSize(r, d)
	annotations := map[string]string{RevisionAnnotation: strconv.FormatInt(revision, 10)}
	if cause, ok := d.Annotations[ChangeCauseAnnotation]; ok {
		annotations[ChangeCauseAnnotation] = cause
	}
	setSizeAnnotations(annotations, d)
	rs := &api.ReplicaSet{
		TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: api.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          maps.Clone(template.Labels),
			Annotations:     annotations,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(d)},
		},
		Spec: api.ReplicaSetSpec{Replicas: &replicas, MinReadySeconds: d.Spec.MinReadySeconds, Selector: selector, Template: template},
	}
	created, err := client.Create(ctx, c.client, rs)
	if api.IsAlreadyExists(err) {
		return c.handleCollision(ctx, r, rs.Name)
	}
	if err != nil {
		c.recorder.Eventf(d, reconcile.EventWarning, "FailedCreate", "Failed to create new replica set %q: %v", rs.Name, err)
		return fmt.Errorf("deployment %q: create replica set %q: %w", d.Key(), rs.Name, err)
	}
	if replicas > 0 {
		c.recorder.Eventf(d, reconcile.EventNormal, "ScalingReplicaSet", "Scaled up replica set %s to %d", created.Name, replicas)
	}
	r.all = append(r.all, created)
	r.newRS = created
	r.createdRS = created.Name
	return nil
}

// handleCollision: a ReplicaSet with the new name exists. If it is ours with
// this template the cache was just behind; otherwise bump collisionCount so
// the next hash differs.
func (c *Controller) handleCollision(ctx context.Context, r *rollout, name string) error {
	existing, err := client.Get[*api.ReplicaSet](ctx, c.client, r.d.Namespace, name)
	if err != nil {
		return fmt.Errorf("deployment %q: read colliding replica set %q: %w", r.d.Key(), name, err)
	}
	if existing.IsControlledBy(r.d.UID) && templateKey(&existing.Spec.Template) == templateKey(&r.d.Spec.Template) {
		return fmt.Errorf("deployment %q: replica set %q exists but is not in the cache yet; retrying", r.d.Key(), name)
	}
	cp := *r.d
	n := int32(1)
	if r.d.Status.CollisionCount != nil {
		n = *r.d.Status.CollisionCount + 1
	}
	cp.Status.CollisionCount = &n
	if _, err := client.UpdateStatus(ctx, c.client, &cp); err != nil {
		return fmt.Errorf("deployment %q: record hash collision: %w", r.d.Key(), err)
	}
	return fmt.Errorf("deployment %q: replica set name %q is taken by another template; retrying with collisionCount %d", r.d.Key(), name, n)
}

// newReplicaSetSize is the size of a new ReplicaSet at creation.
func newReplicaSetSize(r *rollout, d *api.Deployment) int32 {
	want := internal.Replicas(d.Spec.Replicas)
	if d.Spec.Strategy.Type == "Recreate" {
		return want
	}
	surge, _ := resolveFenceposts(d)
	current := r.currentPods()
	return max(0, min(want+surge-current, want))
}

func setSizeAnnotations(a map[string]string, d *api.Deployment) {
	want := internal.Replicas(d.Spec.Replicas)
	surge, _ := resolveFenceposts(d)
	a[DesiredReplicasAnnotation] = strconv.FormatInt(int64(want), 10)
	a[MaxReplicasAnnotation] = strconv.FormatInt(int64(want+surge), 10)
}

// scaleReplicaSet sets rs's replicas (and size annotations) to size.
func (c *Controller) scaleReplicaSet(ctx context.Context, r *rollout, rs *api.ReplicaSet, size int32) error {
	cur := internal.Replicas(rs.Spec.Replicas)
	desired, _ := intAnnotation(rs, DesiredReplicasAnnotation)
	if cur == size && desired == internal.Replicas(r.d.Spec.Replicas) {
		return nil
	}
	cp := api.DeepCopy(rs)
	cp.Spec.Replicas = &size
	if cp.Annotations == nil {
		cp.Annotations = map[string]string{}
	}
	setSizeAnnotations(cp.Annotations, r.d)
	updated, err := client.Update(ctx, c.client, cp)
	if err != nil {
		return fmt.Errorf("deployment %q: scale replica set %q to %d: %w", r.d.Key(), rs.Name, size, err)
	}
	switch {
	case size > cur:
		c.recorder.Eventf(r.d, reconcile.EventNormal, "ScalingReplicaSet", "Scaled up replica set %s to %d", rs.Name, size)
	case size < cur:
		c.recorder.Eventf(r.d, reconcile.EventNormal, "ScalingReplicaSet", "Scaled down replica set %s to %d", rs.Name, size)
	}
	r.replace(rs, updated)
	return nil
}

func (r *rollout) replace(old, updated *api.ReplicaSet) {
	for i, rs := range r.all {
		if rs == old {
			r.all[i] = updated
		}
	}
	if r.newRS == old {
		r.newRS = updated
	}
}

// cleanup deletes the oldest fully scaled-down ReplicaSets beyond
// spec.revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, r *rollout) error {
	limit := int32(10)
	if r.d.Spec.RevisionHistoryLimit != nil {
		limit = *r.d.Spec.RevisionHistoryLimit
	}
	var idle []*api.ReplicaSet
	for _, rs := range r.old() {
		if internal.Replicas(rs.Spec.Replicas) == 0 && rs.Status.Replicas == 0 && len(r.pods[rs.UID]) == 0 {
			idle = append(idle, rs)
		}
	}
	excess := len(idle) - int(limit)
	if excess <= 0 {
		return nil
	}
	sort.SliceStable(idle, func(i, j int) bool { return revisionOf(idle[i]) < revisionOf(idle[j]) })
	for _, rs := range idle[:excess] {
		uid := rs.UID
		err := client.Delete[*api.ReplicaSet](ctx, c.client, rs.Namespace, rs.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
		if err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("deployment %q: delete old replica set %q: %w", r.d.Key(), rs.Name, err)
		}
	}
	return nil
}

func copyTemplate(t *api.PodTemplateSpec) api.PodTemplateSpec {
	var out api.PodTemplateSpec
	data, err := json.Marshal(t)
	if err == nil {
		err = json.Unmarshal(data, &out)
	}
	if err != nil {
		panic("deployment: copy pod template: " + err.Error())
	}
	return out
}
