package scenario

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
	"github.com/skiff-sh/skiff/plugins/controllers/gc"
	"github.com/skiff-sh/skiff/plugins/controllers/namespace"
	"github.com/skiff-sh/skiff/plugins/controllers/replicaset"
)

// Options configure a Cluster.
type Options struct {
	// Nodes is the number of test nodes (default 3).
	Nodes int
	// Workers per controller (default 4).
	Workers int
	// NoManager leaves the controller manager stopped (start it with
	// StartManager, or run your own).
	NoManager bool
	// LeaseInterval is how often test nodes renew their Leases (default
	// DefaultLeaseInterval).
	LeaseInterval time.Duration
	// StartupDelay is how long test nodes take to start a pod (default at
	// once; see NodeOptions).
	StartupDelay time.Duration
	// Scheduler, if set, runs against the API server until the cluster
	// stops and binds the pods; test nodes then bind none themselves.
	// scenario/scheduling.Run is skiff's scheduler with its default policies.
	Scheduler func(ctx context.Context, c *client.Client, log *slog.Logger) error
	// Logger defaults to warnings only (SKIFF_TEST_LOG=debug for more).
	Logger *slog.Logger
}

// Cluster is a running control plane.
type Cluster struct {
	t      testing.TB
	Server *clienttest.Server
	Client *client.Client
	Nodes  *TestNodes
	opts   Options
	log    *slog.Logger

	mu      sync.Mutex
	manager *running
}

type running struct {
	cancel context.CancelFunc
	done   chan error
}

// Start runs an API server on etcd (shared by the test binary, see
// clienttest.RunMain), test nodes and, unless NoManager, the controller
// manager; t.Cleanup stops everything.
func Start(t testing.TB, etcd *clienttest.Etcd, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.Logger == nil {
		level := slog.LevelWarn
		if os.Getenv("SKIFF_TEST_LOG") == "debug" {
			level = slog.LevelDebug
		}
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	srv := etcd.NewServer(t)
	c := &Cluster{t: t, Server: srv, Client: srv.Client, opts: opts, log: opts.Logger}
	c.Nodes = StartTestNodes(t, srv.Client, NodeOptions{Count: opts.Nodes, LeaseInterval: opts.LeaseInterval, NoBinding: opts.Scheduler != nil,
		StartupDelay: opts.StartupDelay, Logger: opts.Logger})
	if opts.Scheduler != nil {
		c.runScheduler(opts.Scheduler)
	}
	if !opts.NoManager {
		c.StartManager()
	}
	t.Cleanup(c.StopManager) // runs before the server stops (LIFO)
	return c
}

// Controller is a controller factory under its configuration name.
type Controller struct {
	Name    string
	Factory reconcile.Factory
}

// WorkloadControllers are the controllers NewManager runs.
func WorkloadControllers() []Controller {
	rsFactory, err := replicaset.Factory(nil)
	if err != nil {
		panic(err) // the defaults are valid
	}
	return []Controller{
		{replicaset.Name, rsFactory},
		{deployment.Name, deployment.New},
		{gc.Name, gc.New},
		{namespace.Name, namespace.New},
	}
}

// NewManager builds a controller manager with skiff's workload controllers.
func NewManager(cli *client.Client, workers int, log *slog.Logger) (*reconcile.Manager, error) {
	return newManager(cli, nil, workers, log, WorkloadControllers())
}

func newManager(cli *client.Client, clock reconcile.Clock, workers int, log *slog.Logger, controllers []Controller) (*reconcile.Manager, error) {
	m, err := reconcile.NewManager(reconcile.ManagerOptions{Client: cli, Clock: clock, Logger: log})
	if err != nil {
		return nil, err
	}
	for _, c := range controllers {
		if err := m.Add(c.Name, c.Factory, workers); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RunControllers runs controllers in one manager against the API server
// at c, on clock (nil: the real one), with two workers each, until the
// test ends.
func RunControllers(t testing.TB, c *client.Client, clock reconcile.Clock, controllers ...Controller) {
	t.Helper()
	runControllers(t, c, clock, nil, controllers)
}

// RunControllers runs controllers against the cluster (see RunControllers),
// logging as the cluster does.
func (c *Cluster) RunControllers(t testing.TB, clock reconcile.Clock, controllers ...Controller) {
	t.Helper()
	runControllers(t, c.Client, clock, c.log, controllers)
}

func runControllers(t testing.TB, c *client.Client, clock reconcile.Clock, log *slog.Logger, controllers []Controller) {
	t.Helper()
	m, err := newManager(c, clock, 2, log, controllers)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, "controller manager", m.Run)
}

// runScheduler runs the scheduler until the test ends.
func (c *Cluster) runScheduler(run func(ctx context.Context, c *client.Client, log *slog.Logger) error) {
	runUntilCleanup(c.t, "scheduler", func(ctx context.Context) error { return run(ctx, c.Client, c.log) })
}

// runUntilCleanup runs fn until the test ends; an error is the test's.
func runUntilCleanup(t testing.TB, what string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", what, err)
		}
	})
}

// StartManager runs a fresh controller manager (new informers, empty
// caches), as a restarted skiffd would.
func (c *Cluster) StartManager() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.manager != nil {
		c.t.Fatal("scenario: manager already running")
	}
	m, err := NewManager(c.Client, c.opts.Workers, c.log)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Run(ctx) }()
	c.manager = r
}

// StopManager stops the controller manager and waits for it.
func (c *Cluster) StopManager() {
	c.mu.Lock()
	r := c.manager
	c.manager = nil
	c.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		c.t.Errorf("controller manager: %v", err)
	}
}
