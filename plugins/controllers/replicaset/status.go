package replicaset

import (
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// computeStatus counts the active pods rs controls. Conditions are kept as
// they are (skiff's ReplicaSets set none of their own).
func computeStatus(rs *api.ReplicaSet, active []*api.Pod, now time.Time) api.ReplicaSetStatus {
	st := api.ReplicaSetStatus{
		Replicas:           int32(len(active)),
		ObservedGeneration: rs.Generation,
		Conditions:         rs.Status.Conditions,
	}
	templateLabels := api.SelectorFromSet(rs.Spec.Template.Labels)
	for _, p := range active {
		if templateLabels.Matches(p.Labels) {
			st.FullyLabeledReplicas++
		}
		if api.IsPodReady(p) {
			st.ReadyReplicas++
			if internal.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	return st
}

func statusChanged(a, b *api.ReplicaSetStatus) bool {
	return a.Replicas != b.Replicas || a.FullyLabeledReplicas != b.FullyLabeledReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas ||
		a.ObservedGeneration != b.ObservedGeneration
}
