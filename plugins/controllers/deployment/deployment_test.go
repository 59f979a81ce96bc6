package deployment

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
)

func deploy(replicas int32, surge, unavailable intstr.IntOrString) *api.Deployment {
	d := &api.Deployment{}
	d.Spec.Replicas = &replicas
	d.Spec.Strategy = api.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}
	return d
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas                   int32
		surge, unavailable         intstr.IntOrString
		wantSurge, wantUnavailable int32
	}{
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2}, // 2.5 up, 2.5 down
		{4, intstr.FromInt32(1), intstr.FromInt32(1), 1, 1},
		{3, intstr.FromString("10%"), intstr.FromString("10%"), 1, 0}, // 0.3 up -> 1, down -> 0
		{3, intstr.FromInt32(0), intstr.FromInt32(0), 0, 1},           // both 0: unavailable becomes 1
		{1, intstr.FromString("0%"), intstr.FromString("0%"), 0, 1},
	} {
		s, u := resolveFenceposts(deploy(tc.replicas, tc.surge, tc.unavailable))
		if s != tc.wantSurge || u != tc.wantUnavailable {
			t.Errorf("replicas %d surge %s unavailable %s: got %d/%d, want %d/%d", tc.replicas, tc.surge.String(), tc.unavailable.String(), s, u, tc.wantSurge, tc.wantUnavailable)
		}
	}
	recreate := &api.Deployment{Spec: api.DeploymentSpec{Strategy: api.DeploymentStrategy{Type: "Recreate"}}}
	if s, u := resolveFenceposts(recreate); s != 0 || u != 0 {
		t.Errorf("Recreate: %d/%d, want 0/0", s, u)
	}
}

func rs(replicas int32) *api.ReplicaSet {
	r := &api.ReplicaSet{}
	r.Spec.Replicas = &replicas
	return r
}

func TestProportionalSizes(t *testing.T) {
	for _, tc := range []struct {
		sizes   []int32
		allowed int32
		want    []int32
	}{
		{[]int32{6, 4}, 20, []int32{12, 8}},
		{[]int32{3, 1}, 6, []int32{4, 2}}, // 4.5 and 1.5: the leftover goes to the newest
		{[]int32{6, 4}, 5, []int32{3, 2}},
		{[]int32{2, 2}, 0, []int32{0, 0}},
	} {
		var active []*api.ReplicaSet
		for _, s := range tc.sizes {
			active = append(active, rs(s))
		}
		got := proportionalSizes(active, tc.allowed)
		var sum int32
		for i := range got {
			sum += got[i]
			if got[i] != tc.want[i] {
				t.Fatalf("sizes %v to %d: got %v, want %v", tc.sizes, tc.allowed, got, tc.want)
			}
		}
		if sum != tc.allowed {
			t.Fatalf("sizes %v to %d: total %d", tc.sizes, tc.allowed, sum)
		}
	}
}

func TestTemplateHash(t *testing.T) {
	a := api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx:1"}}}}
	b := a
	b.Spec.Containers = []api.Container{{Name: "c", Image: "nginx:2"}}
	if TemplateHash(&a, nil) != TemplateHash(&a, nil) {
		t.Fatal("hash is not stable")
	}
	if TemplateHash(&a, nil) == TemplateHash(&b, nil) {
		t.Fatal("different templates hash alike")
	}
	one := int32(1)
	if TemplateHash(&a, nil) == TemplateHash(&a, &one) {
		t.Fatal("the collision count must change the hash")
	}
	withHash := a
	withHash.Labels = map[string]string{"app": "web", PodTemplateHashLabel: TemplateHash(&a, nil)}
	if templateKey(&withHash) != templateKey(&a) {
		t.Fatal("templateKey must ignore the pod-template-hash label")
	}
}

func readyPod(since time.Time) *api.Pod {
	p := &api.Pod{}
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: since}}
	return p
}

func TestProgressDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	d := deploy(2, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.ProgressDeadlineSeconds = api.Int32Ptr(60)
	newRS := rs(2)
	newRS.UID = "new"
	r := &rollout{d: d, all: []*api.ReplicaSet{newRS}, newRS: newRS, now: now, pods: map[string][]*api.Pod{"new": {readyPod(now.Add(-time.Hour))}}}

	// Progress was last made 30s ago: still progressing, look again in 31s.
	d.Status.UpdatedReplicas = 1
	d.Status.ReadyReplicas = 1
	d.Status.AvailableReplicas = 1
	d.Status.Replicas = 1
	d.Status.Conditions = []api.DeploymentCondition{condition(ConditionProgressing, api.ConditionTrue, ReasonReplicaSetUpdated, "", now.Add(-30*time.Second))}
	st, requeue := computeStatus(r)
	if c := getCondition(&st, ConditionProgressing); c.Status != api.ConditionTrue || requeue != 31*time.Second {
		t.Fatalf("30s into a 60s deadline: Progressing %+v, requeue %s", c, requeue)
	}
	// 61s without progress: deadline exceeded.
	d.Status.Conditions[0].LastUpdateTime = now.Add(-61 * time.Second)
	st, _ = computeStatus(r)
	if c := getCondition(&st, ConditionProgressing); c.Status != api.ConditionFalse || c.Reason != ReasonProgressDeadlineExceeded {
		t.Fatalf("past the deadline: Progressing %+v", c)
	}
	if c := getCondition(&st, ConditionAvailable); c.Status != api.ConditionFalse {
		t.Fatalf("1 of 2 available with maxUnavailable 0: Available %+v, want False", c)
	}
	// Both pods available: complete, whatever the clock says.
	r.pods["new"] = append(r.pods["new"], readyPod(now.Add(-time.Hour)))
	st, _ = computeStatus(r)
	if c := getCondition(&st, ConditionProgressing); c.Status != api.ConditionTrue || c.Reason != ReasonNewReplicaSetAvailable {
		t.Fatalf("complete rollout: Progressing %+v", c)
	}
}

func TestConditionStatus(t *testing.T) {
	now := time.Now()
	st := &api.DeploymentStatus{Conditions: []api.DeploymentCondition{
		condition(ConditionAvailable, api.ConditionTrue, ReasonMinimumReplicasAvailable, "", now),
		condition(ConditionProgressing, api.ConditionFalse, ReasonProgressDeadlineExceeded, "", now),
	}}
	if got := conditionStatus(st, ConditionProgressing); got != api.ConditionFalse {
		t.Errorf("Progressing: %q, want False", got)
	}
	if got := conditionStatus(&api.DeploymentStatus{}, ConditionProgressing); got != "" {
		t.Errorf("absent condition: %q, want \"\"", got)
	}
}
