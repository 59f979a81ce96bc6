package schedule

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func allocated(t *testing.T, c *Cache, node string) (scheduler.Resources, int) {
	t.Helper()
	var r scheduler.Resources
	var pods int
	slot, ok := c.Table().Slot(node)
	if !ok {
		t.Fatalf("node %s not in the table", node)
	}
	c.Table().Read(func(s scheduler.Snapshot) {
		r, pods = s.Nodes[slot].Allocated, len(s.Nodes[slot].Pods)
	})
	return r, pods
}

func boundPod(name, node, cpu string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: name, UID: "uid-" + name}}
	p.Spec.NodeName = node
	p.Spec.Containers = []api.Container{{Name: "c", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": resource.MustParse(cpu)}}}}
	return p
}

func TestCacheAssumeConfirmForget(t *testing.T) {
	c := NewCache()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}
	n.Status.Allocatable = api.ResourceList{"cpu": resource.MustParse("2"), "pods": resource.MustParse("10")}
	c.SetNode(n)
	view := &scheduler.Pod{Namespace: "ns", Name: "a", Requests: scheduler.Resources{MilliCPU: 500, Pods: 1}}

	c.Assume("ns/a", "uid-a", "n1", view)
	if r, pods := allocated(t, c, "n1"); r.MilliCPU != 500 || pods != 1 {
		t.Fatalf("after assume: %+v, %d pods", r, pods)
	}
	// The informer shows it bound: confirmed, counted once.
	if err := c.AddPod(boundPod("a", "n1", "500m")); err != nil {
		t.Fatal(err)
	}
	if c.IsAssumed("ns/a") {
		t.Fatal("still assumed after the informer showed it bound")
	}
	c.Forget("ns/a") // a late binding failure must not drop a confirmed pod
	if r, pods := allocated(t, c, "n1"); r.MilliCPU != 500 || pods != 1 {
		t.Fatalf("after confirm and forget: %+v, %d pods", r, pods)
	}

	// An assumption whose binding failed is forgotten.
	c.Assume("ns/b", "uid-b", "n1", &scheduler.Pod{Namespace: "ns", Name: "b", Requests: scheduler.Resources{MilliCPU: 700, Pods: 1}})
	c.Forget("ns/b")
	if r, pods := allocated(t, c, "n1"); r.MilliCPU != 500 || pods != 1 {
		t.Fatalf("after forget: %+v, %d pods", r, pods)
	}

	// A pod on a node not seen yet is counted when the node appears.
	if err := c.AddPod(boundPod("c", "n2", "1")); err != nil {
		t.Fatal(err)
	}
	c.SetNode(&api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}})
	if r, _ := allocated(t, c, "n2"); r.MilliCPU != 1000 {
		t.Fatalf("n2: %+v", r)
	}
	if !c.RemovePod("ns/a") {
		t.Fatal("RemovePod of a bound pod reported unknown")
	}
	if r, pods := allocated(t, c, "n1"); r.MilliCPU != 0 || pods != 0 {
		t.Fatalf("after delete: %+v, %d pods", r, pods)
	}
}
