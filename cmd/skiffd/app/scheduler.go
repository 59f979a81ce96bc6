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

	"github.com/skiff-sh/skiff/core/apiserver"
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

// startPlugins builds the server's plugin host with the configured
// selection (an invalid one stops skiffd from starting): the scheduling
// policies, used by the scheduler while this server leads, and the
// admission plugins, published to chain after every successful Apply, at
// start and on each edit of the config file, since every server admits
// the writes it serves. status serves the host's state. stop unloads the
// plugins; call it once nothing uses the host.
func startPlugins(ctx context.Context, cfg *Config, src configSource, metrics prometheus.Registerer, status *pluginStatusHandler,
	chain *apiserver.AdmissionChain) (host *plugin.Host, stop func(), err error) {
	cacheDir := cfg.Plugins.WasmCacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.DataDir, "wasm-cache")
	}
	log := slog.Default().With("component", "plugins")
	opts := plugin.Options{Registry: NewRegistry(), Metrics: metrics, Logger: log, WasmCacheDir: cacheDir, LoadTimeout: cfg.Plugins.LoadTimeout}
	if chain != nil {
		opts.Selected = func(h *plugin.Host) { chain.Set(admitters(h, log)) }
	}
	if host, err = plugin.NewHost(opts); err != nil {
		return nil, nil, err
	}
	if err := applySelection(host, cfg); err != nil {
		host.Close()
		return nil, nil, fmt.Errorf("config %s: %w", orEnv(src.path), err)
	}
	status.host.Store(host)
	ctx, cancel := context.WithCancel(ctx)
	if src.path != "" {
		watchSelection(ctx, src.path, src.flags, host, log, src.reloaded)
	}
	return host, func() {
		cancel()
		status.host.Store(nil)
		if chain != nil {
			chain.Set(nil)
		}
		host.Close()
	}, nil
}

// runScheduler schedules pods with the host's current policies until ctx
// ends; only the leader runs it.
func runScheduler(ctx context.Context, cfg *Config, host *plugin.Host, clientCfg *client.Config) error {
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
