package noderesources

import (
	"fmt"

	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptors of the policies.
var (
	FitDescriptor            = sdk.NewDescriptor("NodeResourcesFit", sdk.PointFilter)
	LeastAllocatedDescriptor = sdk.NewDescriptor("LeastAllocated", sdk.PointScore)
	MostAllocatedDescriptor  = sdk.NewDescriptor("MostAllocated", sdk.PointScore)
)

// NewFit is the filter's factory; it takes no args.
var NewFit = policyutil.Factory[Fit]("NodeResourcesFit")

// AllocationArgs weigh cpu against memory (default 1 each).
type AllocationArgs struct {
	CPUWeight    *int64 `json:"cpuWeight"`
	MemoryWeight *int64 `json:"memoryWeight"`
}

// NewLeastAllocated is the spread score's factory.
func NewLeastAllocated(args sdk.Args, _ sdk.Handle) (any, error) {
	return newAllocation(LeastAllocatedDescriptor.Name, args, false)
}

// NewMostAllocated is the binpack score's factory.
func NewMostAllocated(args sdk.Args, _ sdk.Handle) (any, error) {
	return newAllocation(MostAllocatedDescriptor.Name, args, true)
}

func newAllocation(name string, args sdk.Args, most bool) (any, error) {
	var a AllocationArgs
	if err := args.Decode(&a); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Allocation{MostAllocated: most, CPUWeight: 1, MemoryWeight: 1}
	if a.CPUWeight != nil {
		p.CPUWeight = *a.CPUWeight
	}
	if a.MemoryWeight != nil {
		p.MemoryWeight = *a.MemoryWeight
	}
	if p.CPUWeight < 0 || p.MemoryWeight < 0 || p.CPUWeight+p.MemoryWeight == 0 {
		return nil, fmt.Errorf("%s: args: cpuWeight and memoryWeight must be >= 0 and not both 0, got %d and %d", name, p.CPUWeight, p.MemoryWeight)
	}
	return p, nil
}
