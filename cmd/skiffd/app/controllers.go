package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/plugin/controllerproc"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/core/reconcile/leader"
	"github.com/skiff-sh/skiff/plugins/controllers/cronjob"
	"github.com/skiff-sh/skiff/plugins/controllers/daemonset"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
	"github.com/skiff-sh/skiff/plugins/controllers/endpoints"
	"github.com/skiff-sh/skiff/plugins/controllers/gc"
	"github.com/skiff-sh/skiff/plugins/controllers/job"
	"github.com/skiff-sh/skiff/plugins/controllers/namespace"
	"github.com/skiff-sh/skiff/plugins/controllers/nodelifecycle"
	"github.com/skiff-sh/skiff/plugins/controllers/replicaset"
	"github.com/skiff-sh/skiff/plugins/controllers/statefulset"
	"github.com/skiff-sh/skiff/sdk"
)

// controllerFactory decodes a controller's args (JSON; empty when none are
// configured) into the factory the manager builds it with.
type controllerFactory func(args []byte) (reconcile.Factory, error)

// builtinControllers is the one place builtin controllers are wired in.
var builtinControllers = map[string]controllerFactory{
	cronjob.Name:       withoutArgs(cronjob.Name, cronjob.New),
	daemonset.Name:     withoutArgs(daemonset.Name, daemonset.New),
	deployment.Name:    withoutArgs(deployment.Name, deployment.New),
	endpoints.Name:     withoutArgs(endpoints.Name, endpoints.New),
	gc.Name:            withoutArgs(gc.Name, gc.New),
	job.Name:           withoutArgs(job.Name, job.New),
	namespace.Name:     withoutArgs(namespace.Name, namespace.New),
	nodelifecycle.Name: nodelifecycle.Factory,
	replicaset.Name:    replicaset.Factory,
	statefulset.Name:   withoutArgs(statefulset.Name, statefulset.New),
}

func withoutArgs(name string, f reconcile.Factory) controllerFactory {
	return func(args []byte) (reconcile.Factory, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("controller-args.%s: controller %s takes no args; remove the entry", name, name)
		}
		return f, nil
	}
}

// LeaderElectionConfig gates the controllers and the scheduler so that one
// server of several sharing an etcd runs them at a time.
type LeaderElectionConfig struct {
	Enabled bool `koanf:"enabled"`
	// LeaseDuration is how long a dead leader keeps the lead before another
	// server takes over.
	LeaseDuration time.Duration `koanf:"lease-duration"`
}

func controllerNames() []string {
	names := make([]string, 0, len(builtinControllers))
	for n := range builtinControllers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// enabledControllers resolves the `controllers:` list: "*" enables every
// builtin, "name" one, "-name" disables one; later entries win.
func enabledControllers(list []string) ([]string, error) {
	on := map[string]bool{}
	for i, entry := range list {
		name, disable := strings.CutPrefix(strings.TrimSpace(entry), "-")
		if name == "*" {
			for n := range builtinControllers {
				on[n] = !disable
			}
			continue
		}
		if _, ok := builtinControllers[name]; !ok {
			return nil, fmt.Errorf("controllers[%d]: unknown controller %q; known: %s (\"*\" for all, \"-name\" to disable one)",
				i, name, strings.Join(controllerNames(), ", "))
		}
		on[name] = !disable
	}
	var names []string
	for n, enabled := range on {
		if enabled {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// controllerPlan is the validated controller selection: what the leader runs.
type controllerPlan struct {
	names     []string
	factories map[string]reconcile.Factory
	workers   int
	// processes are the process-controllers, started while leading.
	processes []*plugin.ControllerProcess
	dataDir   string

	// tokens issues the process controllers' tokens (the API server).
	tokens tokenIssuer
	// leading is true while run runs; failure is why the builtin manager
	// stopped during this term, if it did.
	leading atomic.Bool
	failure atomic.Value // string
}

func planControllers(cfg *Config) (*controllerPlan, error) {
	return planControllersWith(cfg, cfg.ProcessControllers)
}

// planControllersWith is planControllers with the `process-controllers:`
// entries of the config.
func planControllersWith(cfg *Config, processes []ProcessControllerConfig) (*controllerPlan, error) {
	names, err := enabledControllers(cfg.Controllers)
	if err != nil {
		return nil, err
	}
	if cfg.ControllerWorkers < 1 {
		return nil, fmt.Errorf("controller-workers: must be >= 1, got %d", cfg.ControllerWorkers)
	}
	for name := range cfg.ControllerArgs {
		if _, ok := builtinControllers[name]; !ok {
			return nil, fmt.Errorf("controller-args.%s: unknown controller; known: %s", name, strings.Join(controllerNames(), ", "))
		}
	}
	plan := &controllerPlan{names: names, factories: map[string]reconcile.Factory{}, workers: cfg.ControllerWorkers, dataDir: cfg.DataDir}
	if plan.processes, err = planProcessControllers(processes); err != nil {
		return nil, err
	}
	for _, name := range names {
		var args []byte
		if a, ok := cfg.ControllerArgs[name]; ok {
			if args, err = json.Marshal(a); err != nil {
				return nil, fmt.Errorf("controller-args.%s: %w", name, err)
			}
		}
		f, err := builtinControllers[name](args)
		if err != nil {
			return nil, err
		}
		plan.factories[name] = f
	}
	return plan, nil
}

// run runs the selected controllers until ctx ends: the builtins under a
// fresh manager (a manager runs once), each process controller as its
// process. It is called while this server leads.
func (p *controllerPlan) run(ctx context.Context, clientCfg *client.Config) error {
	p.leading.Store(true)
	p.failure.Store("")
	defer p.leading.Store(false)
	var wg sync.WaitGroup
	for _, proc := range p.processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.runProcess(ctx, proc, clientCfg)
		}()
	}
	defer wg.Wait()
	err := p.runBuiltins(ctx, clientCfg)
	if err != nil && ctx.Err() == nil {
		p.failure.Store(err.Error())
	}
	return err
}

func (p *controllerPlan) runBuiltins(ctx context.Context, clientCfg *client.Config) error {
	if len(p.names) == 0 {
		<-ctx.Done()
		return nil
	}
	c, err := client.New(clientCfg)
	if err != nil {
		return err
	}
	m, err := reconcile.NewManager(reconcile.ManagerOptions{Client: c, Logger: slog.Default().With("component", "controllers")})
	if err != nil {
		return err
	}
	for _, name := range p.names {
		if err := m.Add(name, p.factories[name], p.workers); err != nil {
			return err
		}
	}
	slog.Info("controllers starting", "controllers", p.names, "workers", p.workers)
	return m.Run(ctx)
}

// runLeaderOnly runs work only while this server leads (or always when
// leader election is off), so several servers can share one etcd.
func runLeaderOnly(ctx context.Context, cfg *Config, etcd *clientv3.Client, work func(ctx context.Context)) error {
	if !cfg.LeaderElection.Enabled {
		work(ctx)
		return nil
	}
	host, _ := os.Hostname()
	identity := host + "_" + uuid.NewString()[:8]
	return leader.Run(ctx, etcd, "skiff-control-plane", identity, cfg.LeaderElection.LeaseDuration,
		func(ctx context.Context) {
			slog.Info("leading the control plane: starting controllers and scheduler", "identity", identity)
			work(ctx)
		},
		func() { slog.Info("no longer leading the control plane", "identity", identity) })
}

// validateLeaderElection checks the leader-election keys.
func (l LeaderElectionConfig) validate() error {
	if l.Enabled && l.LeaseDuration < time.Second {
		return fmt.Errorf("leader-election.lease-duration: must be >= 1s, got %s", l.LeaseDuration)
	}
	return nil
}

// ProcessControllerConfig is one `process-controllers:` entry: a controller
// binary skiffd runs over go-plugin while it leads (see
// examples/process-controller).
type ProcessControllerConfig struct {
	Name string `koanf:"name"`
	// Path is the binary's absolute path.
	Path string `koanf:"path"`
	// SHA256 pins the binary: skiffd refuses to run any other.
	SHA256 string `koanf:"sha256"`
	// Args reach the controller as JSON.
	Args map[string]any `koanf:"args"`
}

// planProcessControllers validates the entries: names unique and distinct
// from the builtins', binaries present and matching their pins.
func planProcessControllers(list []ProcessControllerConfig) ([]*plugin.ControllerProcess, error) {
	seen := map[string]bool{}
	var out []*plugin.ControllerProcess
	for i, e := range list {
		if _, builtin := builtinControllers[e.Name]; builtin {
			return nil, fmt.Errorf("process-controllers[%d]: name %q is a builtin controller's; choose another name", i, e.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("process-controllers[%d]: name %q is used twice", i, e.Name)
		}
		seen[e.Name] = true
		proc, err := plugin.NewControllerProcess(plugin.ControllerProcessSpec{Name: e.Name, Path: e.Path, SHA256: e.SHA256, Args: e.Args},
			slog.Default().With("component", "controllers"))
		if err != nil {
			return nil, fmt.Errorf("process-controllers[%d]: %w", i, err)
		}
		out = append(out, proc)
	}
	return out, nil
}

// tokenIssuer issues bearer tokens (the API server).
type tokenIssuer interface {
	IssueScopedToken(user, scope string) (string, error)
}

// attach gives the plan what it needs from the running server: the token
// issuer for process controllers and the status endpoint that lists them.
func (p *controllerPlan) attach(tokens tokenIssuer, status *pluginStatusHandler) {
	p.tokens = tokens
	status.controllers.Store(p)
}

// processRetry is how long to wait before trying again to get a process
// controller its token.
const processRetry = 5 * time.Second

// runProcess runs one process controller until ctx ends. A binary refused
// for its SHA-256 pin stays down (and shows as failing) for this term.
func (p *controllerPlan) runProcess(ctx context.Context, proc *plugin.ControllerProcess, clientCfg *client.Config) {
	name := proc.Spec().Name
	for ctx.Err() == nil {
		token, err := p.controllerToken(ctx, name, clientCfg)
		if err == nil {
			cfg := *clientCfg
			cfg.Token = token
			if err := proc.Run(ctx, &cfg); err != nil {
				slog.Error("process controller stays down until the binary or its pin is fixed and skiffd restarts",
					"controller", name, "err", err)
			}
			return
		}
		slog.Error("process controller: no token; retrying", "controller", name, "err", err, "retry", processRetry)
		select {
		case <-ctx.Done():
		case <-time.After(processRetry):
		}
	}
}

// controllerToken returns the token of user "controller:NAME": the one kept
// in DATA_DIR/controllers/NAME.token while the server still accepts it,
// else a new one, kept there.
func (p *controllerPlan) controllerToken(ctx context.Context, name string, clientCfg *client.Config) (string, error) {
	if p.tokens == nil {
		return "", fmt.Errorf("process-controllers: %q: the server gave no token issuer (controllerPlan.attach was not called)", name)
	}
	path := filepath.Join(p.dataDir, "controllers", name+".token")
	if data, err := os.ReadFile(path); err == nil {
		token := strings.TrimSpace(string(data))
		valid, err := tokenAccepted(ctx, clientCfg, token)
		if err != nil {
			return "", err
		}
		if valid {
			return token, nil
		}
		slog.Warn("the server no longer accepts a process controller's token; issuing a new one", "controller", name, "file", path)
	}
	token, err := p.tokens.IssueScopedToken("controller:"+name, "controller")
	if err != nil {
		return "", fmt.Errorf("issue a token for controller %q: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the token of controller %q: %w", name, err)
	}
	return token, nil
}

// tokenAccepted asks the server whether token authenticates.
func tokenAccepted(ctx context.Context, clientCfg *client.Config, token string) (bool, error) {
	cfg := *clientCfg
	cfg.Token = token
	c, err := client.New(&cfg)
	if err != nil {
		return false, err
	}
	_, err = client.List[*api.Namespace](ctx, c, "", client.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return true, nil
	case api.ReasonOf(err) == api.ReasonUnauthorized:
		return false, nil
	}
	return false, fmt.Errorf("check a stored controller token: %w", err)
}

// Controller states in `skiff plugins` beyond the plugin host's (failing,
// restarting).
const (
	controllerRunning = "running" // this server leads and runs it
	controllerStandby = "standby" // another server leads
)

// statsTimeout bounds asking a process controller for its metrics, so a
// stuck process cannot hang `skiff plugins`.
const statsTimeout = 2 * time.Second

// status lists every controller for `skiff plugins`: builtins with the
// reconcile metrics of this process, process controllers with their own.
func (p *controllerPlan) status(ctx context.Context) []plugin.PluginStatus {
	leading := p.leading.Load()
	failure, _ := p.failure.Load().(string)
	stats, err := controllerproc.GatherStats(prometheus.DefaultGatherer)
	if err != nil {
		slog.Warn("gathering controller metrics", "err", err)
	}
	row := func(name string, loader plugin.LoaderKind) plugin.PluginStatus {
		return plugin.PluginStatus{Name: name, Point: sdk.PointController, Loader: loader,
			Version: sdk.Versions[sdk.PointController], State: controllerStandby}
	}
	var out []plugin.PluginStatus
	for _, name := range p.names {
		st := row(name, plugin.LoaderBuiltin)
		s := stats[name]
		st.Calls, st.Errors, st.P99 = s.Calls, s.Errors, s.P99
		switch {
		case leading && failure != "":
			st.State, st.LastError = plugin.StateFailing, failure
		case leading:
			st.State = controllerRunning
		}
		out = append(out, st)
	}
	for _, proc := range p.processes {
		spec, ps := proc.Spec(), proc.Status()
		st := row(spec.Name, plugin.LoaderProcess)
		st.Path, st.LastError = spec.Path, ps.LastError
		switch ps.State {
		case plugin.ControllerRunning:
			st.State = controllerRunning
			statsCtx, cancel := context.WithTimeout(ctx, statsTimeout)
			s, err := proc.Stats(statsCtx)
			cancel()
			if err != nil {
				st.LastError = err.Error()
			}
			st.Calls, st.Errors, st.P99 = s.Calls, s.Errors, s.P99
		case plugin.ControllerRestarting:
			st.State = plugin.StateRestarting
		case plugin.ControllerFailing:
			st.State = plugin.StateFailing
		}
		out = append(out, st)
	}
	return out
}
