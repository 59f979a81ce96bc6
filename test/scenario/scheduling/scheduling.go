// Package scheduling runs skiff's scheduler (core/schedule) with the
// builtin scheduling policies for scenario tests:
//
//	c := scenario.Start(t, etcd, scenario.Options{Scheduler: scheduling.Run})
//
// It is a package of its own because the scheduler's plugin host
// (core/plugin) has tests that import scenario.
package scheduling

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/schedule"
	"github.com/skiff-sh/skiff/plugins/scheduler/interpodantiaffinity"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeaffinity"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodename"
	"github.com/skiff-sh/skiff/plugins/scheduler/noderesources"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeunschedulable"
	"github.com/skiff-sh/skiff/plugins/scheduler/podtopologyspread"
	"github.com/skiff-sh/skiff/plugins/scheduler/tainttoleration"
	"github.com/skiff-sh/skiff/sdk"
)

// policies are skiffd's default scheduling selection, in its order
// (cmd/skiffd/app/plugins.go; that package cannot be imported here, it
// imports the controllers whose tests import scenario).
var policies = []struct {
	desc    sdk.Descriptor
	factory sdk.Factory
}{
	{nodeunschedulable.Descriptor, nodeunschedulable.New},
	{nodename.Descriptor, nodename.New},
	{nodeaffinity.FilterDescriptor, nodeaffinity.NewFilter},
	{tainttoleration.FilterDescriptor, tainttoleration.NewFilter},
	{noderesources.FitDescriptor, noderesources.NewFit},
	{podtopologyspread.FilterDescriptor, podtopologyspread.NewFilter},
	{interpodantiaffinity.Descriptor, interpodantiaffinity.New},
	{nodeaffinity.ScoreDescriptor, nodeaffinity.NewScore},
	{tainttoleration.ScoreDescriptor, tainttoleration.NewScore},
	{noderesources.LeastAllocatedDescriptor, noderesources.NewLeastAllocated},
	{podtopologyspread.ScoreDescriptor, podtopologyspread.NewScore},
}

// NewHost returns a plugin host with the default scheduling policies
// loaded as builtins; Close it when done.
func NewHost(log *slog.Logger) (*plugin.Host, error) {
	reg := plugin.NewRegistry()
	specs := make([]plugin.Spec, len(policies))
	for i, p := range policies {
		if err := reg.Register(p.desc, p.factory); err != nil {
			return nil, err
		}
		specs[i] = plugin.Spec{Name: p.desc.Name, Point: p.desc.Point}
	}
	host, err := plugin.NewHost(plugin.Options{Registry: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := host.Apply(specs); err != nil {
		host.Close()
		return nil, fmt.Errorf("scheduling: load the default policies: %w", err)
	}
	return host, nil
}

// Run schedules pods through the API server at c until ctx ends, as
// skiffd's scheduler does: it binds through the binding subresource and
// records Scheduled and FailedScheduling events.
func Run(ctx context.Context, c *client.Client, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	host, err := NewHost(log)
	if err != nil {
		return err
	}
	defer host.Close()
	events := reconcile.NewEventSink(c, nil, log)
	var wg sync.WaitGroup
	defer wg.Wait() // the events' writers stop with ctx
	wg.Go(func() { events.Run(ctx) })
	sched, err := schedule.New(schedule.Options{
		Policies: schedule.HostPolicies(host),
		Binder:   schedule.ClientBinder{Client: c},
		Recorder: events.Recorder(schedule.DefaultSchedulerName),
		Logger:   log,
	})
	if err != nil {
		return err
	}
	return sched.Run(ctx, reconcile.NewSharedInformerFactory(c, log))
}
