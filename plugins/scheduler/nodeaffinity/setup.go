package nodeaffinity

import (
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptors of the filter and the score; both are named NodeAffinity.
var (
	FilterDescriptor = sdk.NewDescriptor("NodeAffinity", sdk.PointFilter)
	ScoreDescriptor  = sdk.NewDescriptor("NodeAffinity", sdk.PointScore)
)

// NewFilter and NewScore are the factories; the policies take no args.
var (
	NewFilter = policyutil.Factory[Filter]("NodeAffinity")
	NewScore  = policyutil.Factory[Score]("NodeAffinity")
)
