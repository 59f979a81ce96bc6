package app

import (
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/plugins/network/overlay"
	"github.com/skiff-sh/skiff/plugins/network/routed"
	"github.com/skiff-sh/skiff/plugins/proxy/iptables"
	"github.com/skiff-sh/skiff/plugins/scheduler/interpodantiaffinity"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeaffinity"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodename"
	"github.com/skiff-sh/skiff/plugins/scheduler/noderesources"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeunschedulable"
	"github.com/skiff-sh/skiff/plugins/scheduler/podtopologyspread"
	"github.com/skiff-sh/skiff/plugins/scheduler/tainttoleration"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/wasm-examples/zone-pref/zonepref"
)

// builtin is one compiled-in plugin; enabled marks the ones a default
// selection contains, in the order they run.
type builtin struct {
	desc    sdk.Descriptor
	factory sdk.Factory
	enabled bool
}

// builtins is the one place compiled-in plugins are wired: adding a plugin
// is one line here.
var builtins = []builtin{
	// scheduler.filter, in default order: cheap checks first.
	{nodeunschedulable.Descriptor, nodeunschedulable.New, true},
	{nodename.Descriptor, nodename.New, true},
	{nodeaffinity.FilterDescriptor, nodeaffinity.NewFilter, true},
	{tainttoleration.FilterDescriptor, tainttoleration.NewFilter, true},
	{noderesources.FitDescriptor, noderesources.NewFit, true},
	{podtopologyspread.FilterDescriptor, podtopologyspread.NewFilter, true},
	{interpodantiaffinity.Descriptor, interpodantiaffinity.New, true},
	// scheduler.score.
	{nodeaffinity.ScoreDescriptor, nodeaffinity.NewScore, true},
	{tainttoleration.ScoreDescriptor, tainttoleration.NewScore, true},
	{noderesources.LeastAllocatedDescriptor, noderesources.NewLeastAllocated, true},
	{podtopologyspread.ScoreDescriptor, podtopologyspread.NewScore, true},
	{noderesources.MostAllocatedDescriptor, noderesources.NewMostAllocated, false},
	{zonepref.Descriptor, zonepref.New, false},
	// network: the node's backend is chosen by network.backend, not a list.
	{bridge.Descriptor, bridge.Factory, false},
	{overlay.Descriptor, overlay.Factory, false},
	{routed.Descriptor, routed.Factory, false},
	// proxy: chosen by network.proxy.
	{iptables.Descriptor, iptables.New, false},
}

// NewRegistry returns a registry with every builtin plugin.
func NewRegistry() *plugin.Registry {
	reg := plugin.NewRegistry()
	for _, b := range builtins {
		reg.MustRegister(b.desc, b.factory)
	}
	return reg
}

// DefaultSpecs is the default selection of a point, in order (benchmarks
// and tests start from it).
func DefaultSpecs(point sdk.Point) []plugin.Spec {
	var out []plugin.Spec
	for _, b := range builtins {
		if b.enabled && b.desc.Point == point {
			out = append(out, plugin.Spec{Name: b.desc.Name, Point: point})
		}
	}
	return out
}
