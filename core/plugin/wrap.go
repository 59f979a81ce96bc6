package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/admission"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/sdk/proxy"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// loaded is one loaded plugin (an impl and its statistics), shared by the
// Plugin wrappers of successive selections while its spec keeps the same
// load-relevant fields.
type loaded struct {
	impl        impl
	fingerprint string
	stats       stats

	mu     sync.RWMutex // calls hold it shared; close takes it exclusively
	closed bool
}

func (l *loaded) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.impl.close()
}

// Plugin is a loaded plugin with the host's policy applied to every call:
// the per-call timeout, the failure policy, metrics and status. Its methods
// are safe for concurrent use.
type Plugin struct {
	spec    Spec
	loaded  *loaded
	metrics pluginMetrics
}

// Name is the configured name.
func (p *Plugin) Name() string { return p.spec.Name }

// Point is the extension point.
func (p *Plugin) Point() sdk.Point { return p.spec.Point }

// Weight is a score plugin's weight (>= 1 for score plugins).
func (p *Plugin) Weight() int64 { return p.spec.Weight }

// Spec returns the plugin's spec with defaults applied.
func (p *Plugin) Spec() Spec { return p.spec }

// Filter runs a filter plugin on a pod's candidates (see
// scheduler.FilterPlugin). applied is false when the plugin failed under
// fail-open: reasons are then all "" and the caller goes on without it. A
// non-nil error is a failure under fail-closed: the pod must not be
// scheduled in this cycle.
func (p *Plugin) Filter(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, reasons []string) (applied bool, err error) {
	err = p.call(ctx, func(ctx context.Context) error {
		return p.loaded.impl.filter(ctx, pod, snap, candidates, reasons)
	})
	if err != nil {
		clear(reasons)
	}
	return p.outcome(err)
}

// Score runs a score plugin on a pod's candidates (see
// scheduler.ScorePlugin), writing unweighted scores. applied and err are as
// for Filter; when applied is false the caller must ignore scores.
func (p *Plugin) Score(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, scores []int64) (applied bool, err error) {
	err = p.call(ctx, func(ctx context.Context) error {
		return p.loaded.impl.score(ctx, pod, snap, candidates, scores)
	})
	if err != nil {
		clear(scores)
	}
	return p.outcome(err)
}

// Admit runs an admission plugin. A failure under fail-open allows the
// request with a warning naming the plugin; under fail-closed it returns
// the error, and the request must be refused.
func (p *Plugin) Admit(ctx context.Context, req *admission.Request) (*admission.Response, error) {
	var resp *admission.Response
	err := p.call(ctx, func(ctx context.Context) (err error) {
		resp, err = p.loaded.impl.admit(ctx, req)
		if err == nil && resp == nil {
			err = errors.New("plugin returned no response")
		}
		return err
	})
	if _, err := p.outcome(err); err != nil {
		return nil, err
	}
	if err != nil {
		return &admission.Response{Allowed: true, Warnings: []string{fmt.Sprintf("%v (failure policy fail-open: request allowed)", err)}}, nil
	}
	return resp, nil
}

// Plan runs a network plugin (see network.Plugin) under the call deadline.
// Network plugins are always fail-closed: there is no plan to fall back to,
// so an error leaves the fabric as it is and the caller retries.
func (p *Plugin) Plan(ctx context.Context, in network.Input) (network.Plan, error) {
	var plan network.Plan
	err := p.call(ctx, func(ctx context.Context) (err error) {
		plan, err = p.loaded.impl.plan(ctx, in)
		return err
	})
	if err != nil {
		return network.Plan{}, err
	}
	return plan, nil
}

// Rules runs a proxy plugin (see proxy.Plugin) under the call deadline.
// Proxy plugins are always fail-closed, as network plugins are: an error
// leaves the installed rules as they are and the caller retries.
func (p *Plugin) Rules(ctx context.Context, in *proxy.Input) (*proxy.Ruleset, error) {
	var rs *proxy.Ruleset
	err := p.call(ctx, func(ctx context.Context) (err error) {
		rs, err = p.loaded.impl.rules(ctx, in)
		if err == nil && rs == nil {
			err = errors.New("plugin returned no ruleset")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// Compile-time guards: the host's wrappers serve where the contracts are
// expected (core/node/proxy takes a proxy.Plugin).
var (
	_ network.Plugin = (*Plugin)(nil)
	_ proxy.Plugin   = (*Plugin)(nil)
)

// Do runs fn with the plugin's value under the host's policy, for builtin
// plugins of the points the host does not call itself (controller,
// runtime): type-assert value to the point's interface.
func (p *Plugin) Do(ctx context.Context, fn func(ctx context.Context, value any) error) (applied bool, err error) {
	b, ok := p.loaded.impl.(builtin)
	if !ok {
		return false, fmt.Errorf("plugin %s %q: Do needs a builtin plugin, this one is %s", p.spec.Point, p.spec.Name, p.spec.Loader())
	}
	return p.outcome(p.call(ctx, func(ctx context.Context) error { return fn(ctx, b.plugin) }))
}

func (p *Plugin) outcome(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case p.spec.FailurePolicy == FailOpen:
		return false, nil
	default:
		return false, err
	}
}

// call applies the deadline, counts the call and names the plugin in errors.
func (p *Plugin) call(ctx context.Context, fn func(ctx context.Context) error) error {
	l := p.loaded
	l.mu.RLock()
	defer l.mu.RUnlock()
	var err error
	start := time.Now()
	if l.closed {
		err = errUnloaded
	} else {
		cctx, cancel := context.WithTimeout(ctx, p.spec.Timeout)
		err = fn(cctx)
		if cctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s (timeout: %s)", p.spec.Timeout, p.spec.Timeout)
		}
		cancel()
	}
	elapsed := time.Since(start)
	l.stats.observe(elapsed, err)
	p.metrics.observe(elapsed, err)
	if err != nil {
		return fmt.Errorf("plugin %s %q (%s): %w", p.spec.Point, p.spec.Name, p.spec.Loader(), err)
	}
	return nil
}

// stats feeds `skiff plugins`.
type stats struct {
	calls, errors atomic.Uint64
	failing       atomic.Bool
	lastError     atomic.Value // string

	mu        sync.Mutex
	latencies [1024]time.Duration // ring of the most recent calls
	next      int
	filled    bool
}

func (s *stats) observe(d time.Duration, err error) {
	s.calls.Add(1)
	s.failing.Store(err != nil)
	if err != nil {
		s.errors.Add(1)
		s.lastError.Store(err.Error())
	}
	s.mu.Lock()
	s.latencies[s.next] = d
	s.next++
	if s.next == len(s.latencies) {
		s.next, s.filled = 0, true
	}
	s.mu.Unlock()
}

// p99 over the recent calls.
func (s *stats) p99() time.Duration {
	s.mu.Lock()
	n := s.next
	if s.filled {
		n = len(s.latencies)
	}
	recent := slices.Clone(s.latencies[:n])
	s.mu.Unlock()
	if n == 0 {
		return 0
	}
	slices.Sort(recent)
	return recent[(n*99-1)/100]
}

// pluginMetrics are one plugin's series of the host's collectors.
type pluginMetrics struct {
	calls, errors prometheus.Counter
	latency       prometheus.Observer
}

func (m pluginMetrics) observe(d time.Duration, err error) {
	if m.calls == nil {
		return
	}
	m.calls.Inc()
	if err != nil {
		m.errors.Inc()
	}
	m.latency.Observe(d.Seconds())
}

type collectors struct {
	calls, errors *prometheus.CounterVec
	latency       *prometheus.HistogramVec
}

func newCollectors(reg prometheus.Registerer) (*collectors, error) {
	labels := []string{"plugin", "point", "loader"}
	c := &collectors{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_plugin_calls_total", Help: "Calls made to a plugin.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "skiff_plugin_errors_total", Help: "Plugin calls that failed (error, timeout, crash).",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "skiff_plugin_call_duration_seconds", Help: "Latency of plugin calls.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10), // 10us .. 2.6s
		}, labels),
	}
	if reg == nil {
		return c, nil
	}
	var err error
	if c.calls, err = register(reg, c.calls); err != nil {
		return nil, err
	}
	if c.errors, err = register(reg, c.errors); err != nil {
		return nil, err
	}
	if c.latency, err = register(reg, c.latency); err != nil {
		return nil, err
	}
	return c, nil
}

// register registers col, or returns the collector already registered under
// its name so that a second host on the same registry shares the series.
func register[C prometheus.Collector](reg prometheus.Registerer, col C) (C, error) {
	err := reg.Register(col)
	var are prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		return col, nil
	case errors.As(err, &are):
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return col, fmt.Errorf("plugin metrics: %w", err)
}

func (c *collectors) forSpec(s *Spec) pluginMetrics {
	l := prometheus.Labels{"plugin": s.Name, "point": string(s.Point), "loader": string(s.Loader())}
	return pluginMetrics{calls: c.calls.With(l), errors: c.errors.With(l), latency: c.latency.With(l)}
}
