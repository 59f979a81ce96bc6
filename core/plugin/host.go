package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"crypto/sha256"
	"encoding/hex"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"

	"github.com/skiff-sh/skiff/sdk"
)

// Options configure a Host.
type Options struct {
	// Registry holds the builtin plugins; nil means none.
	Registry *Registry
	// Metrics receives the plugin collectors; nil registers nothing.
	Metrics prometheus.Registerer
	// Logger receives host events and plugins' stderr; nil uses slog.Default.
	Logger *slog.Logger
	// WasmCacheDir keeps compiled WASM modules across restarts (a compile
	// takes ~1 s, a cached load ~0.1 s); "" keeps them in memory only.
	WasmCacheDir string
	// LoadTimeout bounds loading one plugin (start, handshake, configure);
	// default 30s.
	LoadTimeout time.Duration
	// Selected, if set, is called by Apply once a new selection is
	// published and before the plugins it replaced are unloaded, so that
	// whoever holds Plugin values (the API server's admission chain) can
	// switch to the new ones before the old ones stop answering.
	Selected func(h *Host)
}

// Host loads the configured plugins and hands them out by extension point.
type Host struct {
	opts       Options
	log        *slog.Logger
	collectors *collectors
	cache      wazero.CompilationCache

	applyMu sync.Mutex // one Apply at a time
	current atomic.Pointer[selection]
}

// selection is one applied set of plugins, never modified once published.
type selection struct {
	ordered []*Plugin // in configuration order
	byKey   map[string]*Plugin
}

// NewHost returns a host with an empty selection.
func NewHost(opts Options) (*Host, error) {
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LoadTimeout == 0 {
		opts.LoadTimeout = 30 * time.Second
	}
	cols, err := newCollectors(opts.Metrics)
	if err != nil {
		return nil, err
	}
	h := &Host{opts: opts, log: opts.Logger, collectors: cols}
	if opts.WasmCacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.WasmCacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm compilation cache %s: %w", opts.WasmCacheDir, err)
		}
		h.cache = cache
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	h.current.Store(&selection{byKey: map[string]*Plugin{}})
	return h, nil
}

// Apply validates specs as a whole and makes them the selection in one
// atomic step. Plugins whose spec (and binary on disk) did not change are
// kept as they are; changed and new ones are loaded; removed ones are shut
// down once their calls in flight return. On any error — an invalid field,
// a duplicate, a plugin that fails to load — nothing changes and the error
// names the plugin and the field.
func (h *Host) Apply(specs []Spec) error {
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	old := h.current.Load()

	normalized, err := normalize(h.opts.Registry, specs)
	if err != nil {
		return err
	}
	next := &selection{byKey: make(map[string]*Plugin, len(specs))}

	var fresh []*loaded // loaded by this Apply, closed if it fails
	abort := func(err error) error {
		for _, l := range fresh {
			l.close()
		}
		return err
	}
	for i := range normalized {
		s := &normalized[i]
		fp, err := fingerprint(s)
		if err != nil {
			return abort(fmt.Errorf("plugin %s %q: %s: %w", s.Point, s.Name, s.Loader(), err))
		}
		var l *loaded
		if prev := old.byKey[s.key()]; prev != nil && sameLoad(loadFields(&prev.spec), loadFields(s)) && prev.loaded.fingerprint == fp {
			l = prev.loaded
		} else {
			if l, err = h.load(s, fp); err != nil {
				return abort(fmt.Errorf("plugin %s %q (%s): %w", s.Point, s.Name, s.Loader(), err))
			}
			fresh = append(fresh, l)
		}
		p := &Plugin{spec: *s, loaded: l, metrics: h.collectors.forSpec(s)}
		next.byKey[s.key()] = p
		next.ordered = append(next.ordered, p)
	}
	h.current.Store(next)
	if h.opts.Selected != nil {
		h.opts.Selected(h)
	}

	kept := map[*loaded]bool{}
	for _, p := range next.ordered {
		kept[p.loaded] = true
	}
	for _, p := range old.ordered {
		if !kept[p.loaded] {
			kept[p.loaded] = true // close once
			h.unload(p)           // waits for its calls in flight, bounded by their timeouts
		}
	}
	return nil
}

// normalize applies defaults and validates every spec and the set.
func normalize(reg *Registry, specs []Spec) ([]Spec, error) {
	out := make([]Spec, len(specs))
	seen := make(map[string]bool, len(specs))
	for i, s := range specs {
		s = s.withDefaults()
		if err := s.validate(reg); err != nil {
			return nil, err
		}
		if seen[s.key()] {
			return nil, fmt.Errorf("plugin %s %q: listed twice", s.Point, s.Name)
		}
		seen[s.key()] = true
		out[i] = s
	}
	return out, nil
}

// Validate checks specs as Apply would, and builds each builtin once with
// its args (factories are pure), without loading any process or module: a
// configuration is refused before it touches the machine.
func Validate(reg *Registry, specs []Spec) error {
	if reg == nil {
		reg = NewRegistry()
	}
	normalized, err := normalize(reg, specs)
	if err != nil {
		return err
	}
	for i := range normalized {
		s := &normalized[i]
		if s.Loader() != LoaderBuiltin {
			continue
		}
		args, err := sdk.ArgsFrom(s.Args)
		if err == nil {
			var im impl
			if im, err = loadBuiltin(reg, s, args, sdk.LoggerHandle{}); err == nil {
				err = im.close()
			}
		}
		if err != nil {
			return fmt.Errorf("plugin %s %q: %w", s.Point, s.Name, err)
		}
	}
	return nil
}

func (h *Host) unload(p *Plugin) {
	if err := p.loaded.close(); err != nil {
		h.log.Warn("closing unloaded plugin", "plugin", p.spec.Name, "point", p.spec.Point, "err", err)
	}
}

// loadFields is the part of a spec that needs a reload when it changes;
// weight, timeout and failure policy apply to the next call without one.
func loadFields(s *Spec) *Spec {
	c := *s
	c.Weight, c.Timeout, c.FailurePolicy = 0, 0, ""
	return &c
}

// fingerprint identifies the binary or module on disk, so that replacing
// the file reloads the plugin on the next Apply.
func fingerprint(s *Spec) (string, error) {
	if s.Loader() == LoaderBuiltin {
		return "builtin", nil
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano()), nil
}

func (h *Host) load(s *Spec, fp string) (*loaded, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.LoadTimeout)
	defer cancel()
	args, err := sdk.ArgsFrom(s.Args)
	if err != nil {
		return nil, err
	}
	log := h.log.With("plugin", s.Name, "point", s.Point)
	stderr := &lineLogger{log: log}
	var im impl
	switch s.Loader() {
	case LoaderBuiltin:
		im, err = loadBuiltin(h.opts.Registry, s, args, sdk.LoggerHandle{Log: log})
	case LoaderWasm:
		var code []byte
		if code, err = os.ReadFile(s.Wasm); err != nil {
			return nil, err
		}
		if err = checkPin(s, code); err != nil {
			return nil, err
		}
		im, err = loadWasm(ctx, h.cache, s, code, args, stderr, h.opts.LoadTimeout)
	case LoaderProcess:
		im, err = loadProcess(ctx, s, args, log, stderr, h.opts.LoadTimeout)
	}
	if err != nil {
		return nil, err
	}
	log.Info("plugin loaded", "loader", s.Loader(), "path", s.Path())
	return &loaded{impl: im, fingerprint: fp}, nil
}

func checkPin(s *Spec, code []byte) error {
	if s.SHA256 == "" {
		return nil
	}
	sum := sha256.Sum256(code)
	if got := hex.EncodeToString(sum[:]); got != s.SHA256 {
		return fmt.Errorf("sha256: %s has sha256 %s, but the config pins %s: refusing to load it", s.Path(), got, s.SHA256)
	}
	return nil
}

// Plugins returns the selected plugins of a point, in configuration order.
// Take them once per scheduling cycle or request: a concurrent Apply does
// not change the slice returned.
func (h *Host) Plugins(point sdk.Point) []*Plugin {
	var out []*Plugin
	for _, p := range h.current.Load().ordered {
		if p.spec.Point == point {
			out = append(out, p)
		}
	}
	return out
}

// Filters returns the scheduler.filter plugins.
func (h *Host) Filters() []*Plugin { return h.Plugins(sdk.PointFilter) }

// Scorers returns the scheduler.score plugins.
func (h *Host) Scorers() []*Plugin { return h.Plugins(sdk.PointScore) }

// Admitters returns the admission plugins.
func (h *Host) Admitters() []*Plugin { return h.Plugins(sdk.PointAdmission) }

// Networks returns the network plugins (a node runs one backend).
func (h *Host) Networks() []*Plugin { return h.Plugins(sdk.PointNetwork) }

// Proxies returns the proxy plugins (a node runs one proxy).
func (h *Host) Proxies() []*Plugin { return h.Plugins(sdk.PointProxy) }

// Plugin states shown by `skiff plugins`.
const (
	StateLoaded     = "loaded"
	StateFailing    = "failing"
	StateRestarting = "restarting"
)

// PluginStatus is one row of `skiff plugins`
// (NAME POINT LOADER STATUS CALLS ERRORS P99).
type PluginStatus struct {
	Name          string        `json:"name"`
	Point         sdk.Point     `json:"point"`
	Loader        LoaderKind    `json:"loader"`
	Path          string        `json:"path,omitempty"`
	Version       string        `json:"version"`
	State         string        `json:"state"`
	FailurePolicy FailurePolicy `json:"failurePolicy"`
	Calls         uint64        `json:"calls"`
	Errors        uint64        `json:"errors"`
	// P99 is the 99th percentile latency of the last 1024 calls.
	P99       time.Duration `json:"p99"`
	LastError string        `json:"lastError,omitempty"`
}

// Status reports every selected plugin, in configuration order.
func (h *Host) Status() []PluginStatus {
	sel := h.current.Load()
	out := make([]PluginStatus, 0, len(sel.ordered))
	for _, p := range sel.ordered {
		st := &p.loaded.stats
		state := StateLoaded
		switch {
		case p.loaded.impl.restarting():
			state = StateRestarting
		case st.failing.Load():
			state = StateFailing
		}
		last, _ := st.lastError.Load().(string)
		out = append(out, PluginStatus{
			Name: p.spec.Name, Point: p.spec.Point, Loader: p.spec.Loader(), Path: p.spec.Path(),
			Version: sdk.Versions[p.spec.Point], State: state, FailurePolicy: p.spec.FailurePolicy,
			Calls: st.calls.Load(), Errors: st.errors.Load(), P99: st.p99(), LastError: last,
		})
	}
	return out
}

// Close unloads every plugin (waiting for calls in flight) and releases the
// compilation cache. The host must not be used afterwards.
func (h *Host) Close() error {
	h.applyMu.Lock()
	defer h.applyMu.Unlock()
	sel := h.current.Swap(&selection{byKey: map[string]*Plugin{}})
	var errs []error
	seen := map[*loaded]bool{}
	for _, p := range sel.ordered {
		if !seen[p.loaded] {
			seen[p.loaded] = true
			errs = append(errs, p.loaded.close())
		}
	}
	errs = append(errs, h.cache.Close(context.Background()))
	return errors.Join(errs...)
}
