package nodeunschedulable

import (
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptor names the filter.
var Descriptor = sdk.NewDescriptor("NodeUnschedulable", sdk.PointFilter)

// New is the factory; the policy takes no args.
var New = policyutil.Factory[NodeUnschedulable]("NodeUnschedulable")
