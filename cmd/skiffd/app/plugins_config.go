package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/knadh/koanf/providers/file"
	"github.com/spf13/pflag"

	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/sdk"
)

// SchedulerConfig selects the scheduling policies (conf/skiffd.yaml,
// `scheduler:`). An omitted or empty list means the builtin defaults of
// that point, or nothing with `defaults: false`.
type SchedulerConfig struct {
	Defaults bool           `koanf:"defaults"`
	Filter   []PluginConfig `koanf:"filter"`
	Score    []PluginConfig `koanf:"score"`
	// PercentageOfNodesToScore bounds the feasible nodes looked for per
	// pod: 0 is adaptive (kube-scheduler's rule), 100 evaluates every node.
	PercentageOfNodesToScore int32 `koanf:"percentage-of-nodes-to-score"`
}

// PluginsConfig tunes the plugin host.
type PluginsConfig struct {
	// WasmCacheDir keeps compiled WASM modules across restarts; empty means
	// DATA_DIR/wasm-cache.
	WasmCacheDir string `koanf:"wasm-cache-dir"`
	// LoadTimeout bounds loading one plugin (start, handshake, configure).
	LoadTimeout time.Duration `koanf:"load-timeout"`
}

// PluginConfig is one entry of a plugin list.
type PluginConfig struct {
	Name string `koanf:"name"`
	// Exactly one of builtin, process and wasm; an entry with none is a
	// builtin.
	Builtin bool   `koanf:"builtin"`
	Process string `koanf:"process"`
	Wasm    string `koanf:"wasm"`
	// SHA256 pins a process binary or WASM module.
	SHA256 string `koanf:"sha256"`
	// Weight multiplies a score plugin's scores (default 1).
	Weight int64 `koanf:"weight"`
	// Args reach the plugin's factory as JSON.
	Args map[string]any `koanf:"args"`
	// Timeout bounds each call (default 1s).
	Timeout time.Duration `koanf:"timeout"`
	// FailurePolicy is fail-closed (default) or fail-open.
	FailurePolicy string `koanf:"failure-policy"`
	// MemoryLimitPages caps a WASM instance's memory in 64 KiB pages.
	MemoryLimitPages uint32 `koanf:"memory-limit-pages"`
}

// specs maps the scheduler's selection to plugin host specs, checking what
// the host cannot know: where each entry sits in the file.
func (c *SchedulerConfig) specs() ([]plugin.Spec, error) {
	if p := c.PercentageOfNodesToScore; p < 0 || p > 100 {
		return nil, fmt.Errorf("scheduler.percentage-of-nodes-to-score: must be 0 (adaptive) to 100, got %d", p)
	}
	var out []plugin.Spec
	for _, list := range []struct {
		key     string
		point   sdk.Point
		entries []PluginConfig
	}{{"scheduler.filter", sdk.PointFilter, c.Filter}, {"scheduler.score", sdk.PointScore, c.Score}} {
		if len(list.entries) == 0 {
			if c.Defaults {
				out = append(out, DefaultSpecs(list.point)...)
			}
			continue
		}
		specs, err := listSpecs(list.key, list.point, list.entries)
		if err != nil {
			return nil, err
		}
		out = append(out, specs...)
	}
	return out, nil
}

// listSpecs maps the entries of one list (key names it in errors).
func listSpecs(key string, point sdk.Point, entries []PluginConfig) ([]plugin.Spec, error) {
	out := make([]plugin.Spec, 0, len(entries))
	for i, e := range entries {
		s, err := e.spec(point)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func (e *PluginConfig) spec(point sdk.Point) (plugin.Spec, error) {
	if e.Name == "" {
		return plugin.Spec{}, errors.New("name: must be set, e.g. name: LeastAllocated")
	}
	loaders := 0
	for _, set := range []bool{e.Builtin, e.Process != "", e.Wasm != ""} {
		if set {
			loaders++
		}
	}
	if loaders > 1 {
		return plugin.Spec{}, fmt.Errorf("%q: set only one of builtin: true, process: PATH and wasm: PATH", e.Name)
	}
	if point != sdk.PointScore && e.Weight != 0 {
		return plugin.Spec{}, fmt.Errorf("%q: weight: only score plugins have a weight; remove it", e.Name)
	}
	return plugin.Spec{
		Name: e.Name, Point: point, Process: e.Process, Wasm: e.Wasm, SHA256: e.SHA256, Weight: e.Weight,
		Args: e.Args, Timeout: e.Timeout, FailurePolicy: plugin.FailurePolicy(e.FailurePolicy),
		MemoryLimitPages: e.MemoryLimitPages,
	}, nil
}

// serverSpecs is the selection a server's plugin host runs: the scheduling
// policies and the admission plugins (`admission:`, run in list order).
func serverSpecs(cfg *Config) ([]plugin.Spec, error) {
	specs, err := cfg.Scheduler.specs()
	if err != nil {
		return nil, err
	}
	adm, err := listSpecs("admission", sdk.PointAdmission, cfg.Admission)
	if err != nil {
		return nil, err
	}
	return append(specs, adm...), nil
}

// applySelection maps cfg's selection onto the host. On error nothing
// changes; the error names the key and says how to fix it.
func applySelection(host *plugin.Host, cfg *Config) error {
	specs, err := serverSpecs(cfg)
	if err != nil {
		return err
	}
	return host.Apply(specs)
}

// reloadDebounce groups the several writes an editor makes into one reload.
const reloadDebounce = 300 * time.Millisecond

// selectionWatcher re-applies the plugin selection when the config file
// changes, without restarting skiffd. An invalid edit is refused with one
// log line naming the file, the key and the fix; the running selection
// stays.
type selectionWatcher struct {
	path  string
	flags *pflag.FlagSet
	host  *plugin.Host
	log   *slog.Logger
	// applied is called after each reload attempt (tests wait on it).
	applied func(err error)

	mu    sync.Mutex
	timer *time.Timer
}

// watchSelection watches path until ctx ends. The first watch is set up
// before it returns, so no edit made after it is missed.
func watchSelection(ctx context.Context, path string, flags *pflag.FlagSet, host *plugin.Host, log *slog.Logger, applied func(error)) {
	w := &selectionWatcher{path: path, flags: flags, host: host, log: log, applied: applied}
	fp, stopped, err := w.watch(ctx)
	go w.run(ctx, fp, stopped, err)
}

// watch starts one file watch; stopped reports why it ended.
func (w *selectionWatcher) watch(ctx context.Context) (*file.File, chan error, error) {
	stopped := make(chan error, 1)
	fp := file.Provider(w.path)
	err := fp.Watch(func(_ any, err error) {
		if err != nil {
			select {
			case stopped <- err:
			default:
			}
			return
		}
		w.schedule(ctx)
	})
	return fp, stopped, err
}

func (w *selectionWatcher) run(ctx context.Context, fp *file.File, stopped chan error, err error) {
	for {
		if err == nil {
			select {
			case <-ctx.Done():
				fp.Unwatch()
				return
			case err = <-stopped:
				fp.Unwatch()
			}
			// An editor replacing the file can end the watch: re-arm it
			// and read the new file.
			w.schedule(ctx)
		}
		w.log.Warn("watching the config file for plugin changes; retrying", "file", w.path, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		fp, stopped, err = w.watch(ctx)
	}
}

func (w *selectionWatcher) schedule(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(reloadDebounce, func() {
		if ctx.Err() == nil {
			w.reload()
		}
	})
}

func (w *selectionWatcher) reload() {
	err := w.apply()
	if err != nil {
		w.log.Error("config change rejected, the previous plugin selection stays; fix the file and save it again",
			"file", w.path, "err", err)
	} else {
		w.log.Info("plugin selection reloaded", "file", w.path, "plugins", len(w.host.Status()))
	}
	if w.applied != nil {
		w.applied(err)
	}
}

func (w *selectionWatcher) apply() error {
	cfg, err := loadConfig(w.path, w.flags)
	if err != nil {
		return err
	}
	return applySelection(w.host, cfg)
}
