// Package scheduling runs skiff's scheduler (core/schedule) with skiffd's
// default scheduling policies for scenario tests:
//
//	c := scenario.Start(t, etcd, scenario.Options{Scheduler: scheduling.Run})
//
// It is a package of its own because it imports skiffd's plugin wiring
// (cmd/skiffd/app), whose packages' tests (core/plugin, the controllers)
// import scenario.
package scheduling

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/cmd/skiffd/app"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/schedule"
	"github.com/skiff-sh/skiff/sdk"
)

// NewHost returns a plugin host with skiffd's default scheduling policies
// (app.DefaultSpecs) loaded as builtins; Close it when done.
func NewHost(log *slog.Logger) (*plugin.Host, error) {
	reg := app.NewRegistry()
	specs := append(app.DefaultSpecs(sdk.PointFilter), app.DefaultSpecs(sdk.PointScore)...)
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
