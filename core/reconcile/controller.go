package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// Result tells the controller when to look at a key again after a
// successful reconcile. The zero value means "only when something changes".
type Result struct {
	RequeueAfter time.Duration
}

// Reconciler converges one object, named by its key, towards its desired
// state. It reads current state from caches, so it must not care which event
// (if any) triggered it. A non-nil error retries the key with backoff.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, key string) (Result, error)

func (f ReconcilerFunc) Reconcile(ctx context.Context, key string) (Result, error) {
	return f(ctx, key)
}

// Controller feeds keys from informers into a queue and runs workers that
// hand each key to the Reconciler.
type Controller struct {
	name       string
	reconciler Reconciler
	queue      *Queue
	log        *slog.Logger
	metrics    *controllerMetrics

	mu        sync.Mutex
	informers []*Informer
}

// NewController returns a controller named name (used in logs and metrics).
// A nil clock is the wall clock.
func NewController(name string, r Reconciler, clock Clock, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		name:       name,
		reconciler: r,
		queue:      NewQueue(clock, nil),
		log:        log.With("controller", name),
		metrics:    metricsFor(name),
	}
}

// Name is the controller's name.
func (c *Controller) Name() string { return c.name }

// Queue is the controller's work queue; Reconcilers may queue other keys.
func (c *Controller) Queue() *Queue { return c.queue }

// Watch queues the keys keysFor returns for every object inf adds, updates
// or deletes, and makes Run wait for inf to sync. For an update both the
// old and the new object are mapped (an object that stopped matching must
// still reach its former owner).
func (c *Controller) Watch(inf *Informer, keysFor func(obj api.Object) []string) {
	c.mu.Lock()
	c.informers = append(c.informers, inf)
	c.mu.Unlock()
	enqueue := func(obj api.Object) {
		for _, k := range keysFor(obj) {
			c.queue.Add(k)
		}
	}
	inf.AddHandler(HandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(oldObj, newObj api.Object) {
			if oldObj.GetObjectMeta().ResourceVersion == newObj.GetObjectMeta().ResourceVersion {
				return
			}
			enqueue(oldObj)
			enqueue(newObj)
		},
		DeleteFunc: enqueue,
	})
}

// WatchHandler registers a custom handler on inf (for controllers that must
// react differently to adds, updates and deletes) and makes Run wait for
// inf to sync.
func (c *Controller) WatchHandler(inf *Informer, h Handler) {
	c.mu.Lock()
	c.informers = append(c.informers, inf)
	c.mu.Unlock()
	inf.AddHandler(h)
}

// KeyOfObject maps an object to its own key.
func KeyOfObject(obj api.Object) []string { return []string{obj.GetObjectMeta().Key()} }

// KeyOfControllerOwner maps an object to the key of its controller owner of
// the given kind, in the object's namespace; nothing for other objects.
func KeyOfControllerOwner(kind string) func(api.Object) []string {
	return func(obj api.Object) []string {
		meta := obj.GetObjectMeta()
		if ref := meta.ControllerRef(); ref != nil && ref.Kind == kind {
			return []string{api.KeyOf(meta.Namespace, ref.Name)}
		}
		return nil
	}
}

// Run waits for the watched informers to sync, then runs workers until ctx
// ends; it returns after every worker has finished its current key.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		return fmt.Errorf("controller %q: workers: must be >= 1, got %d", c.name, workers)
	}
	defer c.queue.ShutDown()
	c.mu.Lock()
	infs := append([]*Informer(nil), c.informers...)
	c.mu.Unlock()
	for _, inf := range infs {
		if !inf.WaitForSync(ctx) {
			return ctx.Err()
		}
	}
	c.log.Info("started", "workers", workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.log.Info("stopped")
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	start := time.Now()
	res, err := c.reconcileSafely(ctx, key)
	c.metrics.observe(time.Since(start), err)
	switch {
	case ctx.Err() != nil:
		// Shutting down: the next leader or restart picks the key up.
	case err != nil:
		n := c.queue.NumRequeues(key)
		level := slog.LevelInfo
		if n >= 5 {
			level = slog.LevelWarn
		}
		c.log.Log(ctx, level, "reconcile failed, retrying with backoff", "key", key, "retries", n, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
		if res.RequeueAfter > 0 {
			c.queue.AddAfter(key, res.RequeueAfter)
		}
	}
	return true
}

// reconcileSafely turns a panicking Reconciler into an error for that key,
// so one bad object cannot take the whole controller manager down.
func (c *Controller) reconcileSafely(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("controller %q: reconcile %q panicked: %v\n%s", c.name, key, p, debug.Stack())
		}
	}()
	return c.reconciler.Reconcile(ctx, key)
}
