package daemonset

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// BenchmarkDecide is one reconcile's decision for a DaemonSet on 5,000
// nodes mid-update (half the pods on the old revision).
func BenchmarkDecide(b *testing.B) {
	const n = 5000
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent"}}
	nodes := make([]*api.Node, n)
	pods := make([]*api.Pod, n)
	for i := range n {
		nodes[i] = node(fmt.Sprintf("node-%d", i), map[string]string{"zone": "a"}, api.Taint{Key: TaintUnschedulable, Effect: "NoSchedule"})
		hash := "new"
		if i%2 == 0 {
			hash = "old"
		}
		pods[i] = daemonPod(fmt.Sprintf("p-%d", i), nodes[i].Name, hash, true)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		Decide(ds, nodes, pods, "new", now)
	}
}
