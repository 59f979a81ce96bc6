package daemonset

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RevisionLabel carries the hash of the template a daemon pod was made
// from, to tell old pods from new during an update.
const RevisionLabel = "controller-revision-hash"

// TemplateHash is a short, stable hash of a pod template.
func TemplateHash(t *api.PodTemplateSpec) string {
	data, err := json.Marshal(t)
	if err != nil {
		panic("daemonset: marshal template: " + err.Error())
	}
	h := fnv.New32a()
	h.Write(data)
	return internal.SafeEncode(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Plan is what one reconcile of a DaemonSet should do.
type Plan struct {
	// CreateOn are the nodes that need a daemon pod, sorted.
	CreateOn []string
	// Delete are the pods to remove: on nodes that must not run them, on
	// nodes that are gone, duplicates, failed pods, and old revisions the
	// rolling update may take down now.
	Delete []*api.Pod
}

// Decide computes the plan and the status of ds given every node and the
// pods ds controls. It does no I/O.
func Decide(ds *api.DaemonSet, nodes []*api.Node, pods []*api.Pod, hash string, now time.Time) (Plan, api.DaemonSetStatus) {
	var plan Plan
	byNode := map[string][]*api.Pod{}
	failedOn := map[string]bool{}
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil:
			// On its way out; the node gets a replacement at once, as in Kubernetes.
		case api.IsPodTerminal(p):
			// A daemon restarts in place; a finished pod is replaced.
			plan.Delete = append(plan.Delete, p)
			failedOn[p.Spec.NodeName] = true
		default:
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	st := api.DaemonSetStatus{ObservedGeneration: ds.Generation, Conditions: ds.Status.Conditions}
	minReady := ds.Spec.MinReadySeconds
	kept := map[string]*api.Pod{} // the pod each eligible node keeps
	var unavailable int
	known := map[string]bool{}
	tolerations := withDaemonTolerations(&ds.Spec.Template.Spec)
	for _, node := range nodes {
		known[node.Name] = true
		shouldRun, shouldContinue := nodeShouldRun(node, &ds.Spec.Template.Spec, tolerations)
		onNode := byNode[node.Name]
		if shouldRun {
			st.DesiredNumberScheduled++
		}
		switch {
		case !shouldContinue:
			plan.Delete = append(plan.Delete, onNode...)
			continue
		case len(onNode) == 0:
			if shouldRun {
				unavailable++
				if !failedOn[node.Name] {
					plan.CreateOn = append(plan.CreateOn, node.Name)
				}
			}
			continue
		}
		keep, extra := pickOne(onNode, hash)
		plan.Delete = append(plan.Delete, extra...)
		if !shouldRun {
			st.NumberMisscheduled++
			continue
		}
		kept[node.Name] = keep
		st.CurrentNumberScheduled++
		if keep.Labels[RevisionLabel] == hash {
			st.UpdatedNumberScheduled++
		}
		if api.IsPodReady(keep) {
			st.NumberReady++
		}
		if internal.IsPodAvailable(keep, minReady, now) {
			st.NumberAvailable++
		} else {
			unavailable++
		}
	}
	for name, onNode := range byNode {
		if !known[name] {
			plan.Delete = append(plan.Delete, onNode...) // node gone (or never bound)
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if ds.Spec.UpdateStrategy.Type != "OnDelete" {
		plan.Delete = append(plan.Delete, rollingUpdate(ds, kept, hash, unavailable, int(st.DesiredNumberScheduled), now)...)
	}
	slices.SortFunc(plan.Delete, func(a, b *api.Pod) int { return strings.Compare(a.Name, b.Name) })
	return plan, st
}

// pickOne keeps one pod of several on a node: the current revision first,
// then ready, then the oldest.
func pickOne(pods []*api.Pod, hash string) (keep *api.Pod, extra []*api.Pod) {
	if len(pods) == 1 {
		return pods[0], nil
	}
	sorted := slices.Clone(pods)
	slices.SortStableFunc(sorted, func(a, b *api.Pod) int {
		if ca, cb := a.Labels[RevisionLabel] == hash, b.Labels[RevisionLabel] == hash; ca != cb {
			return boolFirst(ca)
		}
		if ra, rb := api.IsPodReady(a), api.IsPodReady(b); ra != rb {
			return boolFirst(ra)
		}
		if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
			return a.CreationTimestamp.Compare(b.CreationTimestamp)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return sorted[0], sorted[1:]
}

func boolFirst(a bool) int {
	if a {
		return -1
	}
	return 1
}

// rollingUpdate picks the old-revision pods to delete now: unavailable ones
// always (they cost nothing), available ones while fewer than
// maxUnavailable nodes are without an available daemon.
func rollingUpdate(ds *api.DaemonSet, kept map[string]*api.Pod, hash string, unavailable, desired int, now time.Time) []*api.Pod {
	maxUnavailable := MaxUnavailable(ds, desired)
	var out, candidates []*api.Pod
	for _, p := range kept {
		if p.Labels[RevisionLabel] == hash {
			continue
		}
		if !internal.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) {
			out = append(out, p)
			continue
		}
		candidates = append(candidates, p)
	}
	slices.SortFunc(candidates, func(a, b *api.Pod) int { return strings.Compare(a.Spec.NodeName, b.Spec.NodeName) })
	for _, p := range candidates {
		if unavailable >= maxUnavailable {
			break
		}
		out = append(out, p)
		unavailable++
	}
	return out
}

// MaxUnavailable resolves updateStrategy.rollingUpdate.maxUnavailable
// against the desired number of daemons (percentages round up); at least 1,
// since skiff has no surge and 0 would stall every update.
func MaxUnavailable(ds *api.DaemonSet, desired int) int {
	v := intstr.FromInt32(1)
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v = *ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, desired, true)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
