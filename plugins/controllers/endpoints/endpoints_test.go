package endpoints

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/test/scenario"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func newPod(name string, port int32) *api.Pod {
	return &api.Pod{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "web:1",
			Ports: []api.ContainerPort{{Name: "http", ContainerPort: port}}}}},
	}
}

func TestEndpointsFollowPodsAndService(t *testing.T) {
	c := scenario.Start(t, etcd, scenario.Options{Nodes: 2, NoManager: true})
	c.RunControllers(t, nil, scenario.Controller{Name: Name, Factory: New})
	ctx := context.Background()
	for name, port := range map[string]int32{"web-a": 8080, "web-b": 9090} {
		if _, err := client.Create(ctx, c.Client, newPod(name, port)); err != nil {
			t.Fatal(err)
		}
	}
	scenario.Eventually(t, 10*time.Second, func() error {
		if n := c.Nodes.RunningPods(); n != 2 {
			return fmt.Errorf("%d pods running, want 2", n)
		}
		return nil
	})
	// web-c runs but is not ready: the test nodes must leave it so.
	c.Nodes.Hold.Store(true)
	if _, err := client.Create(ctx, c.Client, newPod("web-c", 8080)); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error {
		p, err := client.Get[*api.Pod](ctx, c.Client, "default", "web-c")
		if err != nil || p.Spec.NodeName == "" {
			return fmt.Errorf("web-c not bound yet (%v)", err)
		}
		p.Status.Phase, p.Status.PodIP = api.PodRunning, "10.99.0.3"
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionFalse}}
		_, err = client.UpdateStatus(ctx, c.Client, p)
		return err
	})
	svc := &api.Service{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.Create(ctx, c.Client, svc); err != nil {
		t.Fatal(err)
	}
	// A selector-less service's endpoints belong to its user.
	manual := &api.Service{TypeMeta: svc.TypeMeta, ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "manual"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Port: 5432}}}}
	manualEp := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "manual"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.0.2.1"}}, Ports: []api.EndpointPort{{Port: 5432}}}}}
	for _, obj := range []api.Object{manual, manualEp} {
		if _, err := c.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	var ep *api.Endpoints
	scenario.Eventually(t, 10*time.Second, func() error {
		var err error
		if ep, err = client.Get[*api.Endpoints](ctx, c.Client, "default", "web"); err != nil {
			return err
		}
		return checkSubsets(ep, map[int32][2][]string{8080: {{"web-a"}, {"web-c"}}, 9090: {{"web-b"}, nil}})
	})
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			if a.NodeName == nil || *a.NodeName == "" || a.TargetRef == nil || a.TargetRef.UID == "" {
				t.Fatalf("address %+v lacks nodeName or targetRef", a)
			}
		}
	}

	// A pod change that does not matter to the endpoints writes nothing.
	p, _ := client.Get[*api.Pod](ctx, c.Client, "default", "web-a")
	p.Annotations = map[string]string{"touched": "yes"}
	if _, err := client.Update(ctx, c.Client, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if again, _ := client.Get[*api.Endpoints](ctx, c.Client, "default", "web"); again.ResourceVersion != ep.ResourceVersion {
		t.Fatalf("endpoints rewritten for an irrelevant pod change: %+v", again.Subsets)
	}

	// A deleted pod leaves.
	if err := client.Delete[*api.Pod](ctx, c.Client, "default", "web-b", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error {
		ep, err := client.Get[*api.Endpoints](ctx, c.Client, "default", "web")
		if err != nil {
			return err
		}
		return checkSubsets(ep, map[int32][2][]string{8080: {{"web-a"}, {"web-c"}}})
	})

	// Endpoints go with their service; the manual ones stay.
	if err := client.Delete[*api.Service](ctx, c.Client, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	scenario.Eventually(t, 10*time.Second, func() error {
		_, err := client.Get[*api.Endpoints](ctx, c.Client, "default", "web")
		if api.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("endpoints still there after the service went (%v)", err)
	})
	got, err := client.Get[*api.Endpoints](ctx, c.Client, "default", "manual")
	if err != nil || len(got.Subsets) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.1" {
		t.Fatalf("user-managed endpoints of a selector-less service were touched: %+v, %v", got, err)
	}
}

// checkSubsets compares subsets by port: want[port] = {ready pod names, not-ready pod names}.
func checkSubsets(ep *api.Endpoints, want map[int32][2][]string) error {
	got := map[int32][2][]string{}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) != 1 {
			return fmt.Errorf("subset ports %+v, want one", ss.Ports)
		}
		var pair [2][]string
		for _, a := range ss.Addresses {
			pair[0] = append(pair[0], a.TargetRef.Name)
		}
		for _, a := range ss.NotReadyAddresses {
			pair[1] = append(pair[1], a.TargetRef.Name)
		}
		got[ss.Ports[0].Port] = pair
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("subsets by port %v, want %v", got, want)
	}
	return nil
}
