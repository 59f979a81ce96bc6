package api

import (
	"sort"
	"strings"
	"time"
)

// Condition statuses and the pod and node condition types used across skiff.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"

	PodScheduled    = "PodScheduled"
	PodInitialized  = "Initialized"
	ContainersReady = "ContainersReady"
	PodReady        = "Ready"
	NodeReady       = "Ready"

	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"
)

// Ptr returns a pointer to a copy of v, for optional fields.
func Ptr[T any](v T) *T { return &v }

// Int32Ptr, Int64Ptr and BoolPtr are Ptr for the most common optional fields.
func Int32Ptr(v int32) *int32 { return &v }
func Int64Ptr(v int64) *int64 { return &v }
func BoolPtr(v bool) *bool    { return &v }

// GetPodCondition returns the condition of the given type, or nil.
func GetPodCondition(status *PodStatus, condType string) *PodCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == condType {
			return &status.Conditions[i]
		}
	}
	return nil
}

// SetPodCondition adds or updates a condition and reports whether anything
// changed. LastTransitionTime moves only when the status flips, so observers
// can tell how long a pod has been (not) ready; a zero time means now.
func SetPodCondition(status *PodStatus, cond PodCondition) bool {
	if cond.LastTransitionTime.IsZero() {
		cond.LastTransitionTime = time.Now().UTC().Truncate(time.Second)
	}
	old := GetPodCondition(status, cond.Type)
	if old == nil {
		status.Conditions = append(status.Conditions, cond)
		return true
	}
	if old.Status == cond.Status {
		cond.LastTransitionTime = old.LastTransitionTime
	}
	changed := old.Status != cond.Status || old.Reason != cond.Reason || old.Message != cond.Message ||
		!old.LastProbeTime.Equal(cond.LastProbeTime)
	*old = cond
	return changed
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(pod *Pod) bool {
	c := GetPodCondition(&pod.Status, PodReady)
	return c != nil && c.Status == ConditionTrue
}

// IsPodTerminal reports whether the pod has finished for good.
func IsPodTerminal(pod *Pod) bool {
	return pod.Status.Phase == PodSucceeded || pod.Status.Phase == PodFailed
}

// IsPodActive reports whether a pod counts toward a workload's replicas: not
// terminal and not being deleted.
func IsPodActive(pod *Pod) bool {
	return !IsPodTerminal(pod) && pod.DeletionTimestamp == nil
}

// PodRequests computes a pod's effective requests as the scheduler sees
// them: for each resource, the larger of the sum over the app containers and
// the largest single init container (init containers run one at a time).
func PodRequests(pod *Pod) ResourceList {
	out := ResourceList{}
	for _, c := range pod.Spec.Containers {
		for name, q := range c.Resources.Requests {
			sum := out[name]
			sum.Add(q)
			out[name] = sum
		}
	}
	for _, c := range pod.Spec.InitContainers {
		for name, q := range c.Resources.Requests {
			if cur, ok := out[name]; !ok || q.Cmp(cur) > 0 {
				out[name] = q.DeepCopy()
			}
		}
	}
	return out
}

// PodQOSClass classifies a pod as Kubernetes does: Guaranteed when every
// container has cpu and memory limits equal to its requests, BestEffort when
// no container requests or limits anything, Burstable otherwise.
func PodQOSClass(pod *Pod) string {
	all := append(append([]Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	guaranteed, bestEffort := true, true
	for _, c := range all {
		if len(c.Resources.Requests)+len(c.Resources.Limits) > 0 {
			bestEffort = false
		}
		for _, name := range []string{"cpu", "memory"} {
			lim, hasLim := c.Resources.Limits[name]
			req, hasReq := c.Resources.Requests[name]
			if !hasReq {
				req, hasReq = lim, hasLim // requests default to limits
			}
			if !hasLim || !hasReq || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case bestEffort:
		return "BestEffort"
	case guaranteed:
		return "Guaranteed"
	}
	return "Burstable"
}

// IsControllerRef reports whether ref is marked as the managing controller.
func IsControllerRef(ref *OwnerReference) bool {
	return ref != nil && ref.Controller != nil && *ref.Controller
}

// NewControllerRef returns an owner reference marking owner as the
// controller of a dependent, blocking the owner's foreground deletion until
// the dependent is gone.
func NewControllerRef(owner Object) OwnerReference {
	tm, meta := owner.GetTypeMeta(), owner.GetObjectMeta()
	apiVersion, kind := tm.APIVersion, tm.Kind
	if r, ok := ResourceFor(owner); ok {
		apiVersion, kind = r.APIVersion(), r.Kind
	}
	return OwnerReference{
		APIVersion:         apiVersion,
		Kind:               kind,
		Name:               meta.Name,
		UID:                meta.UID,
		Controller:         BoolPtr(true),
		BlockOwnerDeletion: BoolPtr(true),
	}
}

// FormatLabels renders labels as sorted "a=b,c=d", "<none>" when empty, as
// kubectl prints them.
func FormatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
	}
	return b.String()
}

// GetNodeCondition returns the node condition of the given type, or nil.
func GetNodeCondition(status *NodeStatus, condType string) *NodeCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == condType {
			return &status.Conditions[i]
		}
	}
	return nil
}

// IsNodeReady reports whether the node's Ready condition is True.
func IsNodeReady(node *Node) bool {
	c := GetNodeCondition(&node.Status, NodeReady)
	return c != nil && c.Status == ConditionTrue
}

// TolerationsTolerateTaint reports whether any toleration tolerates taint,
// with Kubernetes semantics: an empty effect matches every effect, an empty
// key with operator Exists matches every taint, Exists ignores the value and
// Equal (the default operator) compares it.
func TolerationsTolerateTaint(tolerations []Toleration, taint *Taint) bool {
	for i := range tolerations {
		if toleratesTaint(&tolerations[i], taint) {
			return true
		}
	}
	return false
}

func toleratesTaint(t *Toleration, taint *Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != taint.Key && !(t.Key == "" && t.Operator == "Exists") {
		return false
	}
	switch t.Operator {
	case "Exists":
		return true
	case "", "Equal":
		return t.Value == taint.Value
	}
	return false
}
