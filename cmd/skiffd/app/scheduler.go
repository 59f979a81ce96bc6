package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/schedule"
)

// PluginsPath is where the API server exposes the plugin host's status
// (`skiff plugins` reads it).
const PluginsPath = "/apis/skiff.io/v1/plugins"

// pluginStatusHandler serves the host's status once the host exists; the
// API server's handlers are fixed before the host is built.
type pluginStatusHandler struct {
	host atomic.Pointer[plugin.Host]
	// controllers adds the controllers' rows (controllers.go).
	controllers atomic.Pointer[controllerPlan]
}

// pluginStatusList is the response: a Kubernetes-shaped list.
type pluginStatusList struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Items      []plugin.PluginStatus `json:"items"`
}

func (h *pluginStatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	list := pluginStatusList{APIVersion: "skiff.io/v1", Kind: "PluginStatusList", Items: []plugin.PluginStatus{}}
	if host := h.host.Load(); host != nil {
		list.Items = host.Status()
	}
	if plan := h.controllers.Load(); plan != nil {
		list.Items = append(list.Items, plan.status(r.Context())...)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

// configSource is where the configuration came from, for reloads.
type configSource struct {
	path  string
	flags *pflag.FlagSet
	// reloaded, if set, is told the outcome of each reload (for tests).
	reloaded func(error)
}

// startScheduler builds the plugin host with the configured selection (an
// invalid one stops skiffd from starting), exposes its status through
// status, and runs the scheduler against the API server at clientCfg; the
// scheduler's informers wait for the server to serve. stop ends the
// scheduler, waits for its bindings and unloads the plugins.
func startScheduler(ctx context.Context, cfg *Config, src configSource, metrics prometheus.Registerer, status *pluginStatusHandler, clientCfg *client.Config) (stop func(), err error) {
	cacheDir := cfg.Plugins.WasmCacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.DataDir, "wasm-cache")
	}
	host, err := plugin.NewHost(plugin.Options{
		Registry: NewRegistry(), Metrics: metrics, Logger: slog.Default().With("component", "plugins"),
		WasmCacheDir: cacheDir, LoadTimeout: cfg.Plugins.LoadTimeout,
	})
	if err != nil {
		return nil, err
	}
	if err := applySelection(host, cfg); err != nil {
		host.Close()
		return nil, fmt.Errorf("config %s: %w", orEnv(src.path), err)
	}
	status.host.Store(host)
	ctx, cancel := context.WithCancel(ctx)
	if src.path != "" {
		watchSelection(ctx, src.path, src.flags, host, slog.Default().With("component", "plugins"), src.reloaded)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runScheduler(ctx, cfg, src, host, clientCfg); err != nil && ctx.Err() == nil {
			slog.Error("scheduler stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
		status.host.Store(nil)
		host.Close()
	}, nil
}

// runScheduler schedules pods until ctx ends, reloading the plugin
// selection when the config file changes.
func runScheduler(ctx context.Context, cfg *Config, src configSource, host *plugin.Host, clientCfg *client.Config) error {
	log := slog.Default().With("component", "scheduler")
	c, err := client.New(clientCfg)
	if err != nil {
		return err
	}
	events := reconcile.NewEventSink(c, nil, log)
	go events.Run(ctx)
	sched, err := schedule.New(schedule.Options{
		Policies:                 schedule.HostPolicies(host),
		Binder:                   schedule.ClientBinder{Client: c},
		Recorder:                 events.Recorder(schedule.DefaultSchedulerName),
		Logger:                   log,
		PercentageOfNodesToScore: cfg.Scheduler.PercentageOfNodesToScore,
	})
	if err != nil {
		return err
	}
	return sched.Run(ctx, reconcile.NewSharedInformerFactory(c, log))
}
