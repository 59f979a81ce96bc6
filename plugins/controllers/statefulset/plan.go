package statefulset

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Labels on StatefulSet pods, as Kubernetes sets them.
const (
	PodNameLabel  = "statefulset.kubernetes.io/pod-name"
	PodIndexLabel = "apps.kubernetes.io/pod-index"
	RevisionLabel = "controller-revision-hash"
)

// Revision names the revision of set's current template: "<set>-<hash>".
func Revision(set *api.StatefulSet) string {
	data, err := json.Marshal(&set.Spec.Template)
	if err != nil {
		panic("statefulset: marshal template: " + err.Error())
	}
	h := fnv.New32a()
	h.Write(data)
	return set.Name + "-" + internal.SafeEncode(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Ordinal parses the ordinal of a pod named "<set>-<n>"; false for pods
// that are not members of set.
func Ordinal(set *api.StatefulSet, podName string) (int, bool) {
	rest, ok := strings.CutPrefix(podName, set.Name+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// PodName is the stable name of ordinal i.
func PodName(set *api.StatefulSet, i int) string { return fmt.Sprintf("%s-%d", set.Name, i) }

// Create asks for the pod of one ordinal at one revision.
type Create struct {
	Ordinal  int
	Revision string
}

// Plan is what one reconcile of a StatefulSet should do.
type Plan struct {
	Create []Create
	Delete []*api.Pod
}

// Decide computes the next step for set, Kubernetes' way: replicas are
// created in ordinal order (OrderedReady: each only once all lower ones are
// Running and Ready; Parallel: all at once), surplus pods are deleted from
// the highest ordinal down (OrderedReady: one at a time, after the previous
// one is gone), and a RollingUpdate replaces pods from the highest ordinal
// down to the partition, one at a time, each only when every pod above it
// is Running and Ready. It does no I/O.
func Decide(set *api.StatefulSet, pods []*api.Pod, currentRev, updateRev string) Plan {
	var plan Plan
	replicas := int(internal.Replicas(set.Spec.Replicas))
	ordered := set.Spec.PodManagementPolicy != "Parallel"
	byOrdinal := map[int]*api.Pod{}
	var condemned []*api.Pod
	for _, p := range pods {
		i, ok := Ordinal(set, p.Name)
		if !ok {
			continue
		}
		if i >= replicas {
			condemned = append(condemned, p)
		} else {
			byOrdinal[i] = p
		}
	}
	partition := 0
	rolling := set.Spec.UpdateStrategy.Type != "OnDelete"
	if ru := set.Spec.UpdateStrategy.RollingUpdate; rolling && ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	revisionFor := func(i int) string {
		if rolling && i < partition {
			return currentRev
		}
		return updateRev
	}

	for i := range replicas {
		pod := byOrdinal[i]
		switch {
		case pod == nil:
			plan.Create = append(plan.Create, Create{Ordinal: i, Revision: revisionFor(i)})
		case pod.DeletionTimestamp != nil:
			// Wait for it to go; it is re-created under the same name.
		case api.IsPodTerminal(pod):
			plan.Delete = append(plan.Delete, pod)
		case healthy(pod):
			continue
		}
		if ordered {
			return plan
		}
	}

	slices.SortFunc(condemned, func(a, b *api.Pod) int {
		ia, _ := Ordinal(set, a.Name)
		ib, _ := Ordinal(set, b.Name)
		return ib - ia
	})
	for _, pod := range condemned {
		if pod.DeletionTimestamp == nil {
			plan.Delete = append(plan.Delete, pod)
		}
		if ordered {
			return plan
		}
	}

	if !rolling {
		return plan
	}
	for i := replicas - 1; i >= partition; i-- {
		pod := byOrdinal[i]
		if pod == nil || pod.DeletionTimestamp != nil {
			return plan
		}
		if pod.Labels[RevisionLabel] != updateRev {
			if !slices.Contains(plan.Delete, pod) {
				plan.Delete = append(plan.Delete, pod)
			}
			return plan
		}
		if !healthy(pod) {
			return plan
		}
	}
	return plan
}

func healthy(p *api.Pod) bool {
	return p.Status.Phase == api.PodRunning && api.IsPodReady(p) && p.DeletionTimestamp == nil
}

// ComputeStatus counts set's pods. currentRevision moves to updateRevision
// once every replica runs it and is ready.
func ComputeStatus(set *api.StatefulSet, pods []*api.Pod, currentRev, updateRev string, now time.Time) api.StatefulSetStatus {
	st := api.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRev,
		UpdateRevision:     updateRev,
		Conditions:         set.Status.Conditions,
	}
	for _, p := range pods {
		if _, ok := Ordinal(set, p.Name); !ok || p.DeletionTimestamp != nil {
			continue
		}
		st.Replicas++
		if api.IsPodReady(p) && p.Status.Phase == api.PodRunning {
			st.ReadyReplicas++
			if internal.IsPodAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		switch p.Labels[RevisionLabel] {
		case currentRev:
			st.CurrentReplicas++
			if currentRev == updateRev {
				st.UpdatedReplicas++
			}
		case updateRev:
			st.UpdatedReplicas++
		}
	}
	want := internal.Replicas(set.Spec.Replicas)
	if currentRev != updateRev && st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentRevision = updateRev
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}
