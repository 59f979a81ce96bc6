package api

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// jsonRoundTrip is what DeepCopy used to be; DeepCopy must give the same.
func jsonRoundTrip[T Object](t *testing.T, obj T) T {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	out := newLike(obj).(T)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func deepCopyCases(t *testing.T) []Object {
	now := time.Now() // carries a monotonic reading, which JSON drops
	berlin := time.FixedZone("CET", 3600)
	maxSurge := intstr.FromString("25%")
	pod := &Pod{
		TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: ObjectMeta{
			Name: "web-0", Namespace: "default", UID: "u", ResourceVersion: "7", Generation: 2,
			CreationTimestamp: now, DeletionTimestamp: &now, DeletionGracePeriodSeconds: Int64Ptr(30),
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{}, // empty + omitempty: nil
			OwnerReferences: []OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs", Controller: BoolPtr(true)}},
			Finalizers:      []string{},
		},
		Spec: PodSpec{Containers: []Container{{
			Name: "c", Image: "nginx:1", Command: []string{"a", "b"}, Args: []string{},
			Ports: []ContainerPort{{ContainerPort: 80}},
			Resources: ResourceRequirements{
				Requests: ResourceList{"cpu": resource.MustParse("1000m"), "memory": resource.MustParse("64Mi")},
				Limits:   ResourceList{},
			},
		}}},
		Status: PodStatus{Phase: PodRunning, StartTime: &now, Conditions: []PodCondition{{Type: PodReady, Status: ConditionTrue, LastTransitionTime: now.In(berlin)}}},
	}
	dep := &Deployment{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: DeploymentSpec{
			Replicas: Int32Ptr(3),
			Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &RollingUpdateDeployment{MaxSurge: &maxSurge}},
		},
	}
	secret := &Secret{
		ObjectMeta: ObjectMeta{Name: "s", Namespace: "default"},
		Data:       map[string][]byte{"a": []byte("x"), "empty": {}, "nil": nil},
	}
	svc := &Service{ObjectMeta: ObjectMeta{Name: "svc", Namespace: "default"}, Spec: ServiceSpec{
		Ports: []ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}
	objs := []Object{pod, dep, secret, svc, &Pod{}, &Event{InvolvedObject: ObjectReference{Kind: "Pod", Name: "p"}, Count: 3, LastTimestamp: now}}
	data, err := os.ReadFile("testdata/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return append(objs, decoded...)
}

func TestDeepCopyEqualsJSONRoundTrip(t *testing.T) {
	for _, obj := range deepCopyCases(t) {
		got, want := DeepCopy(obj), jsonRoundTrip(t, obj)
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			t.Errorf("%T %q: DeepCopy differs from the JSON round trip:\n got %s\nwant %s\n(%#v)", obj, obj.GetObjectMeta().Name, g, mustJSON(want), got)
		}
	}
}

func mustJSON(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func TestDeepCopySharesNothing(t *testing.T) {
	pod := deepCopyCases(t)[0].(*Pod)
	before := mustJSON(pod)
	cp := DeepCopy(pod)
	cp.Labels["app"] = "changed"
	cp.OwnerReferences[0].Name = "changed"
	*cp.OwnerReferences[0].Controller = false
	*cp.DeletionGracePeriodSeconds = 1
	cp.Spec.Containers[0].Command[0] = "changed"
	cp.Spec.Containers[0].Resources.Requests["cpu"] = resource.MustParse("5")
	cp.Status.Conditions[0].Status = ConditionFalse
	*cp.Status.StartTime = time.Time{}
	if after := mustJSON(pod); after != before {
		t.Fatalf("changing the copy changed the original:\nbefore %s\nafter  %s", before, after)
	}
}

func TestDeepCopyOfNilGivesAnEmptyObject(t *testing.T) {
	var pod *Pod
	if cp := DeepCopy(pod); cp == nil || !reflect.DeepEqual(cp, &Pod{}) {
		t.Fatalf("DeepCopy(nil) = %#v, want an empty Pod as the JSON round trip gave", cp)
	}
}

func BenchmarkDeepCopyPod(b *testing.B) {
	// A pod as the workload controllers make them: no resources, UTC times.
	var t testing.T
	pod := deepCopyCases(&t)[0].(*Pod)
	pod.Spec.Containers[0].Resources = ResourceRequirements{}
	now := time.Now().UTC()
	pod.CreationTimestamp, pod.DeletionTimestamp, pod.Status.StartTime = now, &now, &now
	pod.Status.Conditions[0].LastTransitionTime = now
	b.Run("reflect", func(b *testing.B) {
		for b.Loop() {
			DeepCopy(pod)
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			data, _ := json.Marshal(pod)
			json.Unmarshal(data, &Pod{})
		}
	})
}
