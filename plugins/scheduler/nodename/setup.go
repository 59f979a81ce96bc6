package nodename

import (
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptor names the filter.
var Descriptor = sdk.NewDescriptor("NodeName", sdk.PointFilter)

// New is the factory; the policy takes no args.
func New(args sdk.Args, _ sdk.Handle) (any, error) {
	if err := policyutil.NoArgs(Descriptor.Name, args); err != nil {
		return nil, err
	}
	return &NodeName{}, nil
}
