package nodelifecycle

import (
	"slices"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// Taints this controller manages, mirroring the node's Ready condition.
const (
	TaintNotReady    = "node.kubernetes.io/not-ready"
	TaintUnreachable = "node.kubernetes.io/unreachable"
)

// ReasonNodeStatusUnknown is the Ready condition's reason once a node's
// heartbeats stop.
const (
	ReasonNodeStatusUnknown  = "NodeStatusUnknown"
	MessageNodeStatusUnknown = "Kubelet stopped posting node status."
	// ReasonLeaseRenewed marks a Ready condition this controller restored
	// when heartbeats resumed; the node agent's next status replaces it.
	ReasonLeaseRenewed = "NodeLeaseRenewed"
)

// MarkUnknown sets every condition of status to Unknown, as Kubernetes
// does when a node stops posting, adding Ready if the node never had one.
// It reports whether anything changed.
func MarkUnknown(status *api.NodeStatus, now time.Time) bool {
	changed := false
	if api.GetNodeCondition(status, api.NodeReady) == nil {
		status.Conditions = append(status.Conditions, api.NodeCondition{Type: api.NodeReady})
	}
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Status == api.ConditionUnknown {
			continue
		}
		c.Status = api.ConditionUnknown
		c.Reason = ReasonNodeStatusUnknown
		c.Message = MessageNodeStatusUnknown
		c.LastTransitionTime = now
		changed = true
	}
	return changed
}

// DesiredTaints returns node's taints with the not-ready and unreachable
// taints (NoSchedule and NoExecute) matching its Ready condition: Unknown
// means unreachable, False not ready, True (or no condition yet) neither.
// Taints that stay keep their timeAdded; new ones, and NoExecute taints
// without one, get now.
func DesiredTaints(node *api.Node, now time.Time) []api.Taint {
	want := ""
	if c := api.GetNodeCondition(&node.Status, api.NodeReady); c != nil {
		switch c.Status {
		case api.ConditionUnknown:
			want = TaintUnreachable
		case api.ConditionFalse:
			want = TaintNotReady
		}
	}
	var out []api.Taint
	for _, t := range node.Spec.Taints {
		if (t.Key == TaintNotReady || t.Key == TaintUnreachable) && t.Key != want {
			continue
		}
		if t.Effect == "NoExecute" && t.TimeAdded == nil {
			// Tolerations count from timeAdded; Kubernetes' API server
			// stamps it on every NoExecute taint.
			t.TimeAdded = api.Ptr(now)
		}
		out = append(out, t)
	}
	if want == "" {
		return out
	}
	for _, effect := range []string{"NoSchedule", "NoExecute"} {
		if !slices.ContainsFunc(out, func(t api.Taint) bool { return t.Key == want && t.Effect == effect }) {
			out = append(out, api.Taint{Key: want, Effect: effect, TimeAdded: api.Ptr(now)})
		}
	}
	return out
}

// EvictionTime is when pod must leave a node with taints: the earliest
// time any NoExecute taint stops being tolerated. A pod without its own
// toleration for not-ready or unreachable gets one for defaultToleration,
// as Kubernetes' DefaultTolerationSeconds admission adds. ok is false when
// the pod tolerates every NoExecute taint forever.
func EvictionTime(pod *api.Pod, taints []api.Taint, defaultToleration time.Duration, now time.Time) (at time.Time, ok bool) {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect != "NoExecute" {
			continue
		}
		added := now
		if taint.TimeAdded != nil {
			added = *taint.TimeAdded
		}
		until, forever, tolerated := toleratedUntil(pod.Spec.Tolerations, taint, added)
		if !tolerated && (taint.Key == TaintNotReady || taint.Key == TaintUnreachable) {
			until, forever, tolerated = added.Add(defaultToleration), false, true
		}
		switch {
		case !tolerated:
			return added, true
		case forever:
			continue
		}
		if !ok || until.Before(at) {
			at, ok = until, true
		}
	}
	return at, ok
}

// toleratedUntil finds the shortest tolerationSeconds among the tolerations
// of taint, as Kubernetes' taint manager does; forever when none sets one.
func toleratedUntil(tolerations []api.Toleration, taint *api.Taint, added time.Time) (until time.Time, forever, tolerated bool) {
	var minSeconds *int64
	for _, t := range tolerations {
		if !api.TolerationsTolerateTaint([]api.Toleration{t}, taint) {
			continue
		}
		tolerated = true
		if t.TolerationSeconds != nil && (minSeconds == nil || *t.TolerationSeconds < *minSeconds) {
			minSeconds = t.TolerationSeconds
		}
	}
	switch {
	case !tolerated:
		return time.Time{}, false, false
	case minSeconds == nil:
		return time.Time{}, true, true
	}
	return added.Add(time.Duration(max(*minSeconds, 0)) * time.Second), false, true
}
