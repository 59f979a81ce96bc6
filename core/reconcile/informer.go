package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// Handler reacts to changes an informer sees. Calls for one informer are
// sequential and must be quick (typically: compute keys and queue them).
// Objects are shared with the cache: read, never modify.
type Handler interface {
	OnAdd(obj api.Object)
	OnUpdate(oldObj, newObj api.Object)
	OnDelete(obj api.Object)
}

// HandlerFuncs adapts functions to Handler; nil functions are skipped.
type HandlerFuncs struct {
	AddFunc    func(obj api.Object)
	UpdateFunc func(oldObj, newObj api.Object)
	DeleteFunc func(obj api.Object)
}

func (h HandlerFuncs) OnAdd(obj api.Object) {
	if h.AddFunc != nil {
		h.AddFunc(obj)
	}
}

func (h HandlerFuncs) OnUpdate(oldObj, newObj api.Object) {
	if h.UpdateFunc != nil {
		h.UpdateFunc(oldObj, newObj)
	}
}

func (h HandlerFuncs) OnDelete(obj api.Object) {
	if h.DeleteFunc != nil {
		h.DeleteFunc(obj)
	}
}

// Informer keeps a cache of one resource (all namespaces) in step with the
// API server through a ListWatch and tells handlers about every change.
type Informer struct {
	res   *api.Resource
	cache *Cache
	log   *slog.Logger

	mu       sync.RWMutex // guards handlers; held while dispatching
	handlers []Handler

	synced  atomic.Bool
	syncedC chan struct{}
	started atomic.Bool
	lw      *client.ListWatch
}

// NewInformer returns an informer of res. It does nothing until Run.
func NewInformer(c *client.Client, res *api.Resource, log *slog.Logger) *Informer {
	if log == nil {
		log = slog.Default()
	}
	inf := &Informer{res: res, cache: NewCache(DefaultIndexers(res)), log: log.With("informer", res.GroupResource()), syncedC: make(chan struct{})}
	inf.lw = client.NewListWatch(c, res, "", client.ListWatchOptions{}, inf)
	return inf
}

// NewFilteredInformer is NewInformer limited to namespace ("" for all) and
// the selectors of opts, for a component that needs a small slice of a big
// collection (a node's view of the subnet leases, not every ConfigMap).
func NewFilteredInformer(c *client.Client, res *api.Resource, namespace string, opts client.ListWatchOptions, log *slog.Logger) *Informer {
	inf := NewInformer(c, res, log)
	inf.lw = client.NewListWatch(c, res, namespace, opts, inf)
	return inf
}

// Resource is the resource the informer watches.
func (i *Informer) Resource() *api.Resource { return i.res }

// Cache is the informer's indexed cache.
func (i *Informer) Cache() *Cache { return i.cache }

// AddHandler registers h. Objects already in the cache are replayed to it as
// adds, so a handler added late misses nothing.
func (i *Informer) AddHandler(h Handler) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, obj := range i.cache.List() {
		h.OnAdd(obj)
	}
	i.handlers = append(i.handlers, h)
}

// AddIndexer adds a custom index to the cache.
func (i *Informer) AddIndexer(name string, fn IndexFunc) error { return i.cache.AddIndexer(name, fn) }

// HasSynced reports whether the first list has been loaded into the cache.
func (i *Informer) HasSynced() bool { return i.synced.Load() }

// WaitForSync blocks until the informer has synced or ctx ends.
func (i *Informer) WaitForSync(ctx context.Context) bool {
	select {
	case <-i.syncedC:
		return true
	case <-ctx.Done():
		return false
	}
}

// Run lists and watches until ctx ends. Only the first call runs; later
// calls return at once.
func (i *Informer) Run(ctx context.Context) {
	if !i.started.CompareAndSwap(false, true) {
		return
	}
	_ = i.lw.Run(ctx)
}

// OnSync implements client.ListWatchHandler: it replaces the cache with
// items, reporting adds, updates and the deletes a broken watch missed.
func (i *Informer) OnSync(items []api.Object) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	seen := make(map[string]struct{}, len(items))
	for _, obj := range items {
		seen[obj.GetObjectMeta().Key()] = struct{}{}
		i.upsertLocked(obj)
	}
	for _, key := range i.cache.Keys() {
		if _, ok := seen[key]; ok {
			continue
		}
		if old, ok := i.cache.Delete(key); ok {
			i.dispatchDelete(old)
		}
	}
	if i.synced.CompareAndSwap(false, true) {
		close(i.syncedC)
		i.log.Debug("synced", "objects", len(items))
	}
}

// OnEvent implements client.ListWatchHandler.
func (i *Informer) OnEvent(typ client.EventType, obj api.Object) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	switch typ {
	case client.Added, client.Modified:
		i.upsertLocked(obj)
	case client.Deleted:
		// The event carries the final state; the cached one may be older.
		if _, ok := i.cache.Delete(obj.GetObjectMeta().Key()); ok {
			i.dispatchDelete(obj)
		}
	}
}

// OnError implements client.ListWatchErrorHandler.
func (i *Informer) OnError(err error) {
	i.log.Warn("list/watch failed, retrying", "err", err)
}

func (i *Informer) upsertLocked(obj api.Object) {
	old, existed := i.cache.Upsert(obj)
	if !existed {
		for _, h := range i.handlers {
			h.OnAdd(obj)
		}
		return
	}
	if old.GetObjectMeta().UID != obj.GetObjectMeta().UID {
		// Deleted and re-created under the same name while we were not
		// watching: two different objects.
		i.dispatchDelete(old)
		for _, h := range i.handlers {
			h.OnAdd(obj)
		}
		return
	}
	for _, h := range i.handlers {
		h.OnUpdate(old, obj)
	}
}

func (i *Informer) dispatchDelete(obj api.Object) {
	for _, h := range i.handlers {
		h.OnDelete(obj)
	}
}

// SharedInformerFactory hands out one informer per resource, so every
// controller in a process shares one watch and one cache per kind.
type SharedInformerFactory struct {
	client *client.Client
	log    *slog.Logger

	mu        sync.Mutex
	informers map[*api.Resource]*Informer
	ctx       context.Context // set by Start; informers created later start at once
	wg        sync.WaitGroup
}

// NewSharedInformerFactory returns a factory whose informers use c.
func NewSharedInformerFactory(c *client.Client, log *slog.Logger) *SharedInformerFactory {
	if log == nil {
		log = slog.Default()
	}
	return &SharedInformerFactory{client: c, log: log, informers: map[*api.Resource]*Informer{}}
}

// Client is the API client the informers use.
func (f *SharedInformerFactory) Client() *client.Client { return f.client }

// For returns the informer of res, creating it on first use. After Start,
// a new informer starts right away.
func (f *SharedInformerFactory) For(res *api.Resource) *Informer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.informers[res]; ok {
		return inf
	}
	inf := NewInformer(f.client, res, f.log)
	f.informers[res] = inf
	if f.ctx != nil {
		f.run(inf)
	}
	return inf
}

// InformerFor returns the shared informer of kind T (e.g. *api.Pod).
func InformerFor[T api.Object](f *SharedInformerFactory) *Informer {
	return f.For(client.ResourceOf[T]())
}

// Start runs every informer created so far, and any created later, until
// ctx ends. Calling it again does nothing.
func (f *SharedInformerFactory) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx != nil {
		return
	}
	f.ctx = ctx
	for _, inf := range f.informers {
		f.run(inf)
	}
}

func (f *SharedInformerFactory) run(inf *Informer) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		inf.Run(f.ctx)
	}()
}

// WaitForCacheSync blocks until every informer created so far has synced;
// false means ctx ended first.
func (f *SharedInformerFactory) WaitForCacheSync(ctx context.Context) bool {
	f.mu.Lock()
	infs := make([]*Informer, 0, len(f.informers))
	for _, inf := range f.informers {
		infs = append(infs, inf)
	}
	f.mu.Unlock()
	for _, inf := range infs {
		if !inf.WaitForSync(ctx) {
			return false
		}
	}
	return true
}

// Wait blocks until every informer has stopped after Start's ctx ended.
func (f *SharedInformerFactory) Wait() { f.wg.Wait() }
