// Package noderesources holds the NodeResourcesFit filter (the pod's
// requests must fit in what the node has left: cpu, memory,
// ephemeral-storage, pods and extended resources) and two scores over cpu
// and memory: LeastAllocated (prefer the emptiest node: spread, the
// default) and MostAllocated (prefer the fullest node that fits: binpack).
package noderesources

import (
	"context"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Requests scoring assumes for a container that asks for nothing, as
// kube-scheduler does, so best-effort pods still spread.
const (
	DefaultMilliCPURequest = 100
	DefaultMemoryRequest   = 200 << 20
)

// Fit is the NodeResourcesFit filter.
type Fit struct{}

// Allocation is a score over the share of cpu and memory a node would have
// allocated with the pod on it; MostAllocated prefers full nodes.
type Allocation struct {
	MostAllocated bool
	// Weights of cpu and memory in the node's score.
	CPUWeight, MemoryWeight int64
}

var (
	_ scheduler.FilterPlugin = (*Fit)(nil)
	_ scheduler.ScorePlugin  = (*Allocation)(nil)
)

// Reason is the filter's message for a resource that does not fit, as
// kube-scheduler words it ("Insufficient cpu", "Too many pods").
func Reason(resource string) string {
	if resource == "pods" {
		return "Too many pods"
	}
	return "Insufficient " + resource
}

// Filter implements scheduler.FilterPlugin.
func (*Fit) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	req := pod.Requests
	if req.Pods == 0 {
		req.Pods = 1
	}
	for i, slot := range candidates {
		n := nodes[slot]
		if ok, resource := n.Allocated.Fits(req, n.Allocatable); !ok {
			reasons[i] = Reason(resource)
		}
	}
	return nil
}

// Score implements scheduler.ScorePlugin.
func (a *Allocation) Score(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, scores []int64) error {
	cpu, mem := pod.Requests.MilliCPU, pod.Requests.Memory
	if cpu == 0 {
		cpu = DefaultMilliCPURequest
	}
	if mem == 0 {
		mem = DefaultMemoryRequest
	}
	weights := a.CPUWeight + a.MemoryWeight
	for i, slot := range candidates {
		n := nodes[slot]
		s := a.CPUWeight*a.share(n.Allocated.MilliCPU+cpu, n.Allocatable.MilliCPU) +
			a.MemoryWeight*a.share(n.Allocated.Memory+mem, n.Allocatable.Memory)
		scores[i] = s / weights
	}
	return nil
}

// share scores one resource in [0, 100]: the free share for LeastAllocated,
// the used share for MostAllocated; a node without the resource scores 0.
func (a *Allocation) share(used, capacity int64) int64 {
	if capacity <= 0 || used > capacity {
		return 0
	}
	if a.MostAllocated {
		return used * scheduler.MaxNodeScore / capacity
	}
	return (capacity - used) * scheduler.MaxNodeScore / capacity
}
