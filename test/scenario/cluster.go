package scenario

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"

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
	c.Nodes = StartTestNodes(t, srv.Client, opts.Nodes, opts.Logger)
	if !opts.NoManager {
		c.StartManager()
	}
	t.Cleanup(c.StopManager) // runs before the server stops (LIFO)
	return c
}

// NewManager builds a controller manager with skiff's workload controllers.
func NewManager(cli *client.Client, workers int, log *slog.Logger) (*reconcile.Manager, error) {
	m, err := reconcile.NewManager(reconcile.ManagerOptions{Client: cli, Logger: log})
	if err != nil {
		return nil, err
	}
	rsFactory, err := replicaset.Factory(nil)
	if err != nil {
		return nil, err
	}
	for name, f := range map[string]reconcile.Factory{
		replicaset.Name: rsFactory,
		deployment.Name: deployment.New,
		gc.Name:         gc.New,
		namespace.Name:  namespace.New,
	} {
		if err := m.Add(name, f, workers); err != nil {
			return nil, err
		}
	}
	return m, nil
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
