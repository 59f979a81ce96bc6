package tainttoleration

import (
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/sdk"
)

// Descriptors of the filter and the score; both are named TaintToleration.
var (
	FilterDescriptor = sdk.NewDescriptor("TaintToleration", sdk.PointFilter)
	ScoreDescriptor  = sdk.NewDescriptor("TaintToleration", sdk.PointScore)
)

// NewFilter and NewScore are the factories; the policies take no args.
var (
	NewFilter = policyutil.Factory[Filter]("TaintToleration")
	NewScore  = policyutil.Factory[Score]("TaintToleration")
)
