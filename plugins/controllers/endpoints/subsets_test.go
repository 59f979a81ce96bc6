package endpoints

import (
	"reflect"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(name, ip string, ready bool, ports ...api.ContainerPort) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: name, UID: "uid-" + name}}
	p.Spec.NodeName = "node-1"
	p.Spec.Containers = []api.Container{{Name: "c", Ports: ports}}
	p.Status.Phase = api.PodRunning
	p.Status.PodIP = ip
	status := api.ConditionFalse
	if ready {
		status = api.ConditionTrue
	}
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: status}}
	return p
}

func addr(p *api.Pod) api.EndpointAddress {
	return api.EndpointAddress{IP: p.Status.PodIP, NodeName: api.Ptr("node-1"), TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: "ns", Name: p.Name, UID: p.UID}}
}

func TestComputeSubsets(t *testing.T) {
	named := []api.ServicePort{{Name: "http", Port: 80, Protocol: "TCP", TargetPort: intstr.FromString("http")}}
	numeric := []api.ServicePort{{Name: "http", Port: 80, Protocol: "TCP", TargetPort: intstr.FromInt32(8080)}}
	a := pod("a", "10.0.0.2", true, api.ContainerPort{Name: "http", ContainerPort: 8080})
	b := pod("b", "10.0.0.1", true, api.ContainerPort{Name: "http", ContainerPort: 8080})
	c := pod("c", "10.0.0.3", false, api.ContainerPort{Name: "http", ContainerPort: 8080})
	other := pod("d", "10.0.0.4", true, api.ContainerPort{Name: "http", ContainerPort: 9090})
	noName := pod("e", "10.0.0.5", true, api.ContainerPort{Name: "metrics", ContainerPort: 9100})
	noIP := pod("f", "", true, api.ContainerPort{Name: "http", ContainerPort: 8080})
	terminating := pod("g", "10.0.0.7", true, api.ContainerPort{Name: "http", ContainerPort: 8080})
	terminating.DeletionTimestamp = api.Ptr(time.Now())
	failed := pod("h", "10.0.0.8", false, api.ContainerPort{Name: "http", ContainerPort: 8080})
	failed.Status.Phase = api.PodFailed
	port := func(n int32) []api.EndpointPort { return []api.EndpointPort{{Name: "http", Port: n, Protocol: "TCP"}} }

	tests := []struct {
		name  string
		ports []api.ServicePort
		pods  []*api.Pod
		want  []api.EndpointSubset
	}{
		{"ready and not ready split, sorted by IP", numeric, []*api.Pod{a, c, b},
			[]api.EndpointSubset{{Addresses: []api.EndpointAddress{addr(b), addr(a)}, NotReadyAddresses: []api.EndpointAddress{addr(c)}, Ports: port(8080)}}},
		{"named port grouped by resolved number", named, []*api.Pod{other, a},
			[]api.EndpointSubset{{Addresses: []api.EndpointAddress{addr(a)}, Ports: port(8080)}, {Addresses: []api.EndpointAddress{addr(other)}, Ports: port(9090)}}},
		{"pod without the named port left out", named, []*api.Pod{noName, a},
			[]api.EndpointSubset{{Addresses: []api.EndpointAddress{addr(a)}, Ports: port(8080)}}},
		{"no IP, terminating and finished pods left out", numeric, []*api.Pod{noIP, terminating, failed}, nil},
		{"no pods, no subsets", numeric, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: api.ServiceSpec{Ports: tt.ports}}
			got := ComputeSubsets(svc, tt.pods)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			// Input order must not matter: unchanged inputs never rewrite.
			rev := append([]*api.Pod(nil), tt.pods...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if again := ComputeSubsets(svc, rev); !reflect.DeepEqual(again, got) {
				t.Fatalf("order-dependent result:\n%+v\n%+v", got, again)
			}
		})
	}
}

func TestHostnameOnlyUnderItsOwnSubdomain(t *testing.T) {
	p := pod("db-0", "10.0.0.9", true)
	p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db"
	ports := []api.ServicePort{{Port: 5432, Protocol: "TCP", TargetPort: intstr.FromInt32(5432)}}
	for svcName, want := range map[string]string{"db": "db-0", "other": ""} {
		svc := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: svcName}, Spec: api.ServiceSpec{Ports: ports}}
		got := ComputeSubsets(svc, []*api.Pod{p})
		if len(got) != 1 || got[0].Addresses[0].Hostname != want {
			t.Fatalf("service %s: subsets %+v, want hostname %q", svcName, got, want)
		}
	}
}
