package api

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestSetPodCondition(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	var st PodStatus
	if !SetPodCondition(&st, PodCondition{Type: PodReady, Status: ConditionFalse, LastTransitionTime: t0}) {
		t.Fatal("adding a condition must report a change")
	}
	if SetPodCondition(&st, PodCondition{Type: PodReady, Status: ConditionFalse, LastTransitionTime: t1}) {
		t.Error("same status, reason and message must report no change")
	}
	if got := GetPodCondition(&st, PodReady).LastTransitionTime; !got.Equal(t0) {
		t.Errorf("transition time moved without a status change: %v", got)
	}
	if !SetPodCondition(&st, PodCondition{Type: PodReady, Status: ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: t1}) {
		t.Error("a new reason must report a change")
	}
	if got := GetPodCondition(&st, PodReady).LastTransitionTime; !got.Equal(t0) {
		t.Errorf("a reason change must keep the transition time, got %v", got)
	}
	if !SetPodCondition(&st, PodCondition{Type: PodReady, Status: ConditionTrue, LastTransitionTime: t1}) {
		t.Error("a status flip must report a change")
	}
	if got := GetPodCondition(&st, PodReady).LastTransitionTime; !got.Equal(t1) {
		t.Errorf("transition time = %v, want %v", got, t1)
	}
	if len(st.Conditions) != 1 {
		t.Errorf("conditions = %d, want 1", len(st.Conditions))
	}
	if !IsPodReady(&Pod{Status: st}) {
		t.Error("IsPodReady = false after Ready=True")
	}
	if GetPodCondition(&st, PodScheduled) != nil {
		t.Error("GetPodCondition of a missing type must be nil")
	}
	SetPodCondition(&st, PodCondition{Type: PodScheduled, Status: ConditionTrue})
	if GetPodCondition(&st, PodScheduled).LastTransitionTime.IsZero() {
		t.Error("a zero transition time must be set to now")
	}
}

func TestPodPredicates(t *testing.T) {
	tests := []struct {
		phase              string
		deleting           bool
		terminal, isActive bool
	}{
		{phase: PodPending, isActive: true},
		{phase: PodRunning, isActive: true},
		{phase: PodRunning, deleting: true},
		{phase: PodSucceeded, terminal: true},
		{phase: PodFailed, terminal: true},
	}
	for _, tt := range tests {
		p := &Pod{Status: PodStatus{Phase: tt.phase}}
		if tt.deleting {
			p.DeletionTimestamp = Ptr(time.Now())
		}
		if IsPodTerminal(p) != tt.terminal || IsPodActive(p) != tt.isActive {
			t.Errorf("phase %s deleting=%v: terminal=%v active=%v", tt.phase, tt.deleting, IsPodTerminal(p), IsPodActive(p))
		}
	}
	if IsPodReady(&Pod{}) {
		t.Error("a pod without conditions is not ready")
	}
}

func rl(kv ...string) ResourceList {
	out := ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestPodRequests(t *testing.T) {
	tests := []struct {
		name       string
		containers []ResourceList
		inits      []ResourceList
		want       ResourceList
	}{
		{name: "none", want: ResourceList{}},
		{name: "sum", containers: []ResourceList{rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "250m")}, want: rl("cpu", "350m", "memory", "64Mi")},
		{name: "init larger", containers: []ResourceList{rl("cpu", "100m"), rl("cpu", "100m")}, inits: []ResourceList{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "500m")}, want: rl("cpu", "1", "memory", "1Gi")},
		{name: "init smaller", containers: []ResourceList{rl("cpu", "2")}, inits: []ResourceList{rl("cpu", "1")}, want: rl("cpu", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &Pod{}
			for _, r := range tt.containers {
				pod.Spec.Containers = append(pod.Spec.Containers, Container{Resources: ResourceRequirements{Requests: r}})
			}
			for _, r := range tt.inits {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, Container{Resources: ResourceRequirements{Requests: r}})
			}
			got := PodRequests(pod)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if g := got[k]; g.Cmp(w) != 0 {
					t.Errorf("%s = %s, want %s", k, g.String(), w.String())
				}
			}
		})
	}
}

func TestPodQOSClass(t *testing.T) {
	tests := []struct {
		name      string
		resources []ResourceRequirements
		want      string
	}{
		{name: "best effort", resources: []ResourceRequirements{{}}, want: "BestEffort"},
		{name: "guaranteed by limits only", resources: []ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi")}}, want: "Guaranteed"},
		{name: "guaranteed equal", resources: []ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi"), Requests: rl("cpu", "1", "memory", "1Gi")}}, want: "Guaranteed"},
		{name: "burstable requests below limits", resources: []ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi"), Requests: rl("cpu", "500m", "memory", "1Gi")}}, want: "Burstable"},
		{name: "burstable one container empty", resources: []ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi")}, {}}, want: "Burstable"},
	}
	for _, tt := range tests {
		pod := &Pod{}
		for _, r := range tt.resources {
			pod.Spec.Containers = append(pod.Spec.Containers, Container{Resources: r})
		}
		if got := PodQOSClass(pod); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestControllerRef(t *testing.T) {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	ref := NewControllerRef(d)
	want := OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u1"}
	if ref.APIVersion != want.APIVersion || ref.Kind != want.Kind || ref.Name != want.Name || ref.UID != want.UID {
		t.Errorf("ref = %+v, want %+v", ref, want)
	}
	if !IsControllerRef(&ref) || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Error("NewControllerRef must set controller and blockOwnerDeletion")
	}
	if IsControllerRef(&OwnerReference{}) || IsControllerRef(nil) || IsControllerRef(&OwnerReference{Controller: BoolPtr(false)}) {
		t.Error("IsControllerRef must be false without controller=true")
	}
	pod := &Pod{ObjectMeta: ObjectMeta{OwnerReferences: []OwnerReference{ref}}}
	if !pod.IsControlledBy("u1") {
		t.Error("pod with the ref must be controlled by its owner")
	}
}

func TestFormatLabels(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want string
	}{
		{nil, "<none>"},
		{map[string]string{"b": "2", "a": "1"}, "a=1,b=2"},
		{map[string]string{"app": ""}, "app="},
	}
	for _, tt := range tests {
		if got := FormatLabels(tt.in); got != tt.want {
			t.Errorf("FormatLabels(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsNodeReady(t *testing.T) {
	tests := []struct {
		conds []NodeCondition
		want  bool
	}{
		{nil, false},
		{[]NodeCondition{{Type: NodeReady, Status: ConditionTrue}}, true},
		{[]NodeCondition{{Type: "MemoryPressure", Status: ConditionTrue}, {Type: NodeReady, Status: ConditionUnknown}}, false},
	}
	for i, tt := range tests {
		if got := IsNodeReady(&Node{Status: NodeStatus{Conditions: tt.conds}}); got != tt.want {
			t.Errorf("case %d: got %v", i, got)
		}
	}
}

func TestTolerationsTolerateTaint(t *testing.T) {
	noSched := &Taint{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}
	tests := []struct {
		name string
		tol  []Toleration
		want bool
	}{
		{name: "no tolerations", want: false},
		{name: "equal match", tol: []Toleration{{Key: "dedicated", Operator: "Equal", Value: "gpu", Effect: "NoSchedule"}}, want: true},
		{name: "default operator is Equal", tol: []Toleration{{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"}}, want: true},
		{name: "value mismatch", tol: []Toleration{{Key: "dedicated", Value: "cpu", Effect: "NoSchedule"}}, want: false},
		{name: "exists ignores value", tol: []Toleration{{Key: "dedicated", Operator: "Exists", Effect: "NoSchedule"}}, want: true},
		{name: "empty effect matches all", tol: []Toleration{{Key: "dedicated", Operator: "Exists"}}, want: true},
		{name: "effect mismatch", tol: []Toleration{{Key: "dedicated", Operator: "Exists", Effect: "NoExecute"}}, want: false},
		{name: "empty key exists tolerates everything", tol: []Toleration{{Operator: "Exists"}}, want: true},
		{name: "empty key equal does not", tol: []Toleration{{Operator: "Equal"}}, want: false},
		{name: "other key", tol: []Toleration{{Key: "zone", Operator: "Exists"}}, want: false},
		{name: "any of several", tol: []Toleration{{Key: "zone", Operator: "Exists"}, {Key: "dedicated", Operator: "Exists"}}, want: true},
	}
	for _, tt := range tests {
		if got := TolerationsTolerateTaint(tt.tol, noSched); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
