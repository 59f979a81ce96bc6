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

// NewFilter is the filter's factory; it takes no args.
func NewFilter(args sdk.Args, _ sdk.Handle) (any, error) {
	if err := policyutil.NoArgs(FilterDescriptor.Name, args); err != nil {
		return nil, err
	}
	return &Filter{}, nil
}

// NewScore is the score's factory; it takes no args.
func NewScore(args sdk.Args, _ sdk.Handle) (any, error) {
	if err := policyutil.NoArgs(ScoreDescriptor.Name, args); err != nil {
		return nil, err
	}
	return &Score{}, nil
}
