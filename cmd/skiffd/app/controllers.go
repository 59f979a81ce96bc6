package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/client"
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
}

func planControllers(cfg *Config) (*controllerPlan, error) {
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
	plan := &controllerPlan{names: names, factories: map[string]reconcile.Factory{}, workers: cfg.ControllerWorkers}
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

// run builds a fresh manager (a manager runs once) and runs the selected
// controllers until ctx ends.
func (p *controllerPlan) run(ctx context.Context, clientCfg *client.Config) error {
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
