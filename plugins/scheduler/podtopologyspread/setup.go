package podtopologyspread

import (
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptors of the filter and the score; both are named PodTopologySpread.
var (
	FilterDescriptor = sdk.NewDescriptor("PodTopologySpread", sdk.PointFilter)
	ScoreDescriptor  = sdk.NewDescriptor("PodTopologySpread", sdk.PointScore)
)

// NewFilter and NewScore are the factories; the policies take no args.
var (
	NewFilter = policyutil.Factory[Filter]("PodTopologySpread")
	NewScore  = policyutil.Factory[Score]("PodTopologySpread")
)
