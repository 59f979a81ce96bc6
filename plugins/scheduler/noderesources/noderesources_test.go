package noderesources

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func nodes() []*scheduler.Node {
	mk := func(cpu, mem int64) *scheduler.Node {
		return &scheduler.Node{Allocatable: scheduler.Resources{MilliCPU: 4000, Memory: 4 << 30, Pods: 10},
			Allocated: scheduler.Resources{MilliCPU: cpu, Memory: mem, Pods: 1}}
	}
	return []*scheduler.Node{mk(0, 0), mk(2000, 2<<30), mk(3600, 0)}
}

func TestFitNamesTheResource(t *testing.T) {
	reasons := make([]string, 3)
	pod := &scheduler.Pod{Requests: scheduler.Resources{MilliCPU: 500, Memory: 1 << 30}}
	if err := (&Fit{}).Filter(context.Background(), pod, nodes(), []int32{0, 1, 2}, reasons); err != nil {
		t.Fatal(err)
	}
	if reasons[0] != "" || reasons[1] != "" || reasons[2] != "Insufficient cpu" {
		t.Fatalf("reasons %q", reasons)
	}
}

func TestLeastAndMostAllocatedOrderNodesOppositely(t *testing.T) {
	pod := &scheduler.Pod{Requests: scheduler.Resources{MilliCPU: 400, Memory: 1 << 29}}
	least, most := make([]int64, 2), make([]int64, 2)
	(&Allocation{CPUWeight: 1, MemoryWeight: 1}).Score(context.Background(), pod, nodes(), []int32{0, 1}, least)
	(&Allocation{MostAllocated: true, CPUWeight: 1, MemoryWeight: 1}).Score(context.Background(), pod, nodes(), []int32{0, 1}, most)
	if least[0] <= least[1] || most[0] >= most[1] {
		t.Fatalf("least %v most %v: the empty node must win spread and lose binpack", least, most)
	}
	if least[0] != (90+87)/2 { // free after placing: cpu 3600/4000, memory 3.5/4 GiB
		t.Fatalf("least-allocated score of the empty node: %d, want %d", least[0], (90+87)/2)
	}
}

func TestAllocationArgs(t *testing.T) {
	if _, err := NewMostAllocated(sdk.Args(`{"cpuWeight":0,"memoryWeight":0}`), nil); err == nil || !strings.Contains(err.Error(), "not both 0") {
		t.Fatalf("zero weights: %v", err)
	}
	if _, err := NewLeastAllocated(sdk.Args(`{"cpu":1}`), nil); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("misspelt arg: %v", err)
	}
	if _, err := NewFit(sdk.Args(`{"x":1}`), nil); err == nil || !strings.Contains(err.Error(), "takes no args") {
		t.Fatalf("args to a policy without args: %v", err)
	}
}
