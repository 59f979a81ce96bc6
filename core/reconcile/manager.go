package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/skiff-sh/skiff/core/client"
)

// Handle is what a controller gets from the manager that runs it: the API
// client, the process-wide shared informers, an event recorder naming the
// controller as source, a clock and a logger.
type Handle struct {
	Client    *client.Client
	Informers *SharedInformerFactory
	Recorder  Recorder
	Clock     Clock
	Logger    *slog.Logger
}

// Factory builds a controller from a handle; each builtin controller
// package exports one.
type Factory func(h *Handle) (*Controller, error)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Client *client.Client
	// Clock defaults to the wall clock, Logger to slog.Default().
	Clock  Clock
	Logger *slog.Logger
}

// Manager runs named controllers over one set of shared informers and one
// event sink, and starts and stops them together.
type Manager struct {
	client    *client.Client
	clock     Clock
	log       *slog.Logger
	informers *SharedInformerFactory
	events    *EventSink

	mu          sync.Mutex
	controllers map[string]managed
	running     bool
}

type managed struct {
	ctrl    *Controller
	workers int
}

// NewManager returns a manager with no controllers.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if opts.Client == nil {
		return nil, errors.New("controller manager: Client: must be set")
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Manager{
		client:      opts.Client,
		clock:       opts.Clock,
		log:         opts.Logger,
		informers:   NewSharedInformerFactory(opts.Client, opts.Logger),
		events:      NewEventSink(opts.Client, opts.Clock, opts.Logger),
		controllers: map[string]managed{},
	}, nil
}

// Informers is the manager's shared informer factory.
func (m *Manager) Informers() *SharedInformerFactory { return m.informers }

// Handle returns the handle a controller named name gets.
func (m *Manager) Handle(name string) *Handle {
	return &Handle{
		Client:    m.client,
		Informers: m.informers,
		Recorder:  m.events.Recorder(name + "-controller"),
		Clock:     m.clock,
		Logger:    m.log,
	}
}

// Add builds a controller with factory and registers it under name with
// the given number of workers. Names are unique.
func (m *Manager) Add(name string, factory Factory, workers int) error {
	if workers < 1 {
		return fmt.Errorf("controller %q: workers: must be >= 1, got %d", name, workers)
	}
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return fmt.Errorf("controller %q: the manager is already running; add controllers before Run", name)
	}
	if _, dup := m.controllers[name]; dup {
		m.mu.Unlock()
		return fmt.Errorf("controller %q: already registered", name)
	}
	m.mu.Unlock()
	ctrl, err := factory(m.Handle(name))
	if err != nil {
		return fmt.Errorf("controller %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.controllers[name] = managed{ctrl: ctrl, workers: workers}
	return nil
}

// Names lists the registered controllers, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.controllers))
	for n := range m.controllers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run starts the informers, the event sink and every controller, and blocks
// until ctx ends and all of them have stopped. A manager runs once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("controller manager: already ran; build a new manager to run again")
	}
	m.running = true
	ctrls := make(map[string]managed, len(m.controllers))
	for n, c := range m.controllers {
		ctrls[n] = c
	}
	m.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.informers.Start(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.events.Run(ctx)
	}()
	errs := make(chan error, len(ctrls))
	for name, c := range ctrls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.ctrl.Run(ctx, c.workers); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("controller %q: %w", name, err)
				cancel()
			}
		}()
	}
	m.log.Info("controller manager started", "controllers", len(ctrls))
	<-ctx.Done()
	wg.Wait()
	m.informers.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
