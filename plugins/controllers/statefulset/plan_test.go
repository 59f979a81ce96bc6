package statefulset

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

func set(replicas int32, policy string, partition int32) *api.StatefulSet {
	s := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "ns"}}
	s.Spec.Replicas = api.Int32Ptr(replicas)
	s.Spec.PodManagementPolicy = policy
	s.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &api.RollingUpdateStatefulSetStrategy{Partition: api.Int32Ptr(partition)}}
	return s
}

// pod builds ordinal i at revision rev; state is "ready", "running"
// (not ready), "failed" or "deleting".
func pod(i int, rev, state string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Namespace: "ns", Labels: map[string]string{RevisionLabel: rev}}}
	p.Status.Phase = api.PodRunning
	switch state {
	case "ready":
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
	case "failed":
		p.Status.Phase = api.PodFailed
	case "deleting":
		p.DeletionTimestamp = api.Ptr(time.Now())
	}
	return p
}

func describe(p Plan) string {
	s := ""
	for _, c := range p.Create {
		s += fmt.Sprintf("+%d@%s ", c.Ordinal, c.Revision)
	}
	for _, d := range p.Delete {
		s += "-" + d.Name + " "
	}
	return s
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name string
		set  *api.StatefulSet
		pods []*api.Pod
		want string
	}{
		{"ordered: first pod only", set(3, "OrderedReady", 0), nil, "+0@new "},
		{"ordered: next after ready", set(3, "OrderedReady", 0), []*api.Pod{pod(0, "new", "ready")}, "+1@new "},
		{"ordered: wait for not-ready", set(3, "OrderedReady", 0), []*api.Pod{pod(0, "new", "running")}, ""},
		{"ordered: gap filled first", set(3, "OrderedReady", 0), []*api.Pod{pod(0, "new", "ready"), pod(2, "new", "ready")}, "+1@new "},
		{"parallel: all at once", set(3, "Parallel", 0), nil, "+0@new +1@new +2@new "},
		{"failed pod replaced", set(2, "OrderedReady", 0), []*api.Pod{pod(0, "new", "failed")}, "-db-0 "},
		{"ordered: scale down from the top, one at a time", set(1, "OrderedReady", 0),
			[]*api.Pod{pod(0, "new", "ready"), pod(1, "new", "ready"), pod(2, "new", "ready")}, "-db-2 "},
		{"ordered: wait for the top to go", set(1, "OrderedReady", 0),
			[]*api.Pod{pod(0, "new", "ready"), pod(1, "new", "ready"), pod(2, "new", "deleting")}, ""},
		{"parallel: scale down all at once", set(1, "Parallel", 0),
			[]*api.Pod{pod(0, "new", "ready"), pod(1, "new", "ready"), pod(2, "new", "ready")}, "-db-2 -db-1 "},
		{"update from the highest ordinal", set(3, "OrderedReady", 0),
			[]*api.Pod{pod(0, "old", "ready"), pod(1, "old", "ready"), pod(2, "old", "ready")}, "-db-2 "},
		{"update waits for the updated pod to be ready", set(3, "OrderedReady", 0),
			[]*api.Pod{pod(0, "old", "ready"), pod(1, "old", "ready"), pod(2, "new", "running")}, ""},
		{"update continues downwards", set(3, "OrderedReady", 0),
			[]*api.Pod{pod(0, "old", "ready"), pod(1, "old", "ready"), pod(2, "new", "ready")}, "-db-1 "},
		{"partition keeps lower ordinals", set(3, "OrderedReady", 2),
			[]*api.Pod{pod(0, "old", "ready"), pod(1, "old", "ready"), pod(2, "new", "ready")}, ""},
		{"below the partition is re-created at the old revision", set(3, "OrderedReady", 2),
			[]*api.Pod{pod(1, "old", "ready"), pod(2, "new", "ready")}, "+0@old "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(Decide(tt.set, tt.pods, "old", "new")); got != tt.want {
				t.Fatalf("plan %q, want %q", got, tt.want)
			}
		})
	}
	onDelete := set(2, "OrderedReady", 0)
	onDelete.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: "OnDelete"}
	if got := describe(Decide(onDelete, []*api.Pod{pod(0, "old", "ready"), pod(1, "old", "ready")}, "old", "new")); got != "" {
		t.Fatalf("OnDelete plan %q, want nothing", got)
	}
}

func TestOrdinal(t *testing.T) {
	s := set(1, "", 0)
	for name, want := range map[string]int{"db-0": 0, "db-12": 12, "db-01": -1, "db-x": -1, "dbx-1": -1, "db--1": -1, "other-1": -1} {
		got, ok := Ordinal(s, name)
		if (want < 0) == ok || ok && got != want {
			t.Fatalf("Ordinal(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

func TestStatusPromotesRevisionWhenUpdateCompletes(t *testing.T) {
	s := set(2, "OrderedReady", 0)
	mid := ComputeStatus(s, []*api.Pod{pod(0, "old", "ready"), pod(1, "new", "ready")}, "old", "new", time.Now())
	if mid.CurrentRevision != "old" || mid.CurrentReplicas != 1 || mid.UpdatedReplicas != 1 || mid.ReadyReplicas != 2 || mid.Replicas != 2 {
		t.Fatalf("mid-update status %+v", mid)
	}
	done := ComputeStatus(s, []*api.Pod{pod(0, "new", "ready"), pod(1, "new", "ready")}, "old", "new", time.Now())
	if done.CurrentRevision != "new" || done.CurrentReplicas != 2 || done.UpdatedReplicas != 2 {
		t.Fatalf("completed update status %+v", done)
	}
}
