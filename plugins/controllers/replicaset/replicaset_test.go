package replicaset

import (
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pod(name, node, phase string, readySince *time.Time, restarts int32, created time.Time) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: created, Labels: map[string]string{"app": "web"}}}
	p.Spec.NodeName = node
	p.Status.Phase = phase
	if readySince != nil {
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: *readySince}}
	}
	p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "main", RestartCount: restarts}}
	return p
}

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestPodsToDeletePrefersTheLeastUseful(t *testing.T) {
	pods := []*api.Pod{
		pod("ready-long", "n1", api.PodRunning, at(0), 0, t0),
		pod("ready-recent", "n1", api.PodRunning, at(time.Minute), 0, t0),
		pod("running-unready", "n1", api.PodRunning, nil, 0, t0),
		pod("pending", "n1", api.PodPending, nil, 0, t0),
		pod("unscheduled", "", api.PodPending, nil, 0, t0),
		pod("ready-long-restarts", "n1", api.PodRunning, at(0), 5, t0),
		pod("ready-long-newer", "n1", api.PodRunning, at(0), 0, t0.Add(time.Second)),
	}
	want := []string{"unscheduled", "pending", "running-unready", "ready-recent", "ready-long-restarts", "ready-long-newer", "ready-long"}
	got := podsToDelete(pods, len(pods))
	for i := range want {
		if got[i].Name != want[i] {
			names := make([]string, len(got))
			for j, p := range got {
				names[j] = p.Name
			}
			t.Fatalf("deletion order %v, want %v", names, want)
		}
	}
	if len(podsToDelete(pods, 2)) != 2 {
		t.Fatal("podsToDelete must return exactly n pods")
	}
}

func TestComputeStatus(t *testing.T) {
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Generation: 4}}
	rs.Spec.MinReadySeconds = 30
	rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	now := t0.Add(time.Minute)
	full := pod("full", "n1", api.PodRunning, at(0), 0, t0)
	full.Labels = map[string]string{"app": "web", "tier": "front"}
	pods := []*api.Pod{
		full,
		pod("fresh", "n1", api.PodRunning, at(50*time.Second), 0, t0), // ready 10s: not yet available
		pod("unready", "n1", api.PodRunning, nil, 0, t0),
	}
	st := computeStatus(rs, pods, now)
	want := api.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4}
	if statusChanged(&st, &want) {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	if d := internal.Requeue(true, pods, rs.Spec.MinReadySeconds, now); d != 21*time.Second {
		t.Fatalf("next availability check in %s, want 21s (20s left + 1s)", d)
	}
}
