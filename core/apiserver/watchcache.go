package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// cacheEvent is one change as the cache keeps it: the object (shared by all
// watchers, never modified), its state before the change, and its JSON,
// encoded once and written as is to every watcher.
type cacheEvent struct {
	typ  store.EventType // Added, Modified, Deleted; Bookmark = progress only
	obj  api.Object
	prev api.Object // nil when the cache did not hold the object before
	rev  int64
	json []byte

	// A watcher whose selector the object just left gets DELETED with the
	// previous state at this event's revision, as Kubernetes sends it.
	leftOnce sync.Once
	leftJSON []byte
}

func (e *cacheEvent) leftSelectorJSON() []byte {
	e.leftOnce.Do(func() {
		obj := api.DeepCopy(e.prev)
		obj.GetObjectMeta().ResourceVersion = strconv.FormatInt(e.rev, 10)
		e.leftJSON, _ = json.Marshal(obj)
	})
	return e.leftJSON
}

// watchCache keeps, for one resource, the current objects and a ring of the
// most recent events, fed by a single store watch. HTTP watchers subscribe
// to it, so N watchers cost one etcd watch and one encode per change.
type watchCache struct {
	res      *api.Resource
	store    store.Store
	capacity int
	metrics  *metrics

	ready     chan struct{} // closed after the first list
	readyOnce sync.Once

	mu       sync.Mutex
	state    map[string]*cacheEvent // key -> event that produced the current state
	ring     []*cacheEvent
	head, n  int   // ring[head] is the oldest of n events
	oldest   int64 // a watch from a revision >= oldest is served from memory
	rev      int64 // newest revision the cache has caught up to
	watchers map[*cacheWatcher]struct{}
}

func newWatchCache(res *api.Resource, st store.Store, capacity int, m *metrics) *watchCache {
	return &watchCache{
		res: res, store: st, capacity: capacity, metrics: m,
		ready:    make(chan struct{}),
		ring:     make([]*cacheEvent, capacity),
		watchers: map[*cacheWatcher]struct{}{},
	}
}

// run lists then follows the store until ctx ends. A failed store watch is
// resumed from the last revision seen; if that revision was compacted the
// cache re-lists and ends every watcher, which then re-watch (and get 410
// if they are too far behind), as Kubernetes informers expect.
func (c *watchCache) run(ctx context.Context) {
	backoff := newBackoff()
	for ctx.Err() == nil {
		if err := c.relist(ctx); err != nil {
			slog.Warn("apiserver: watch cache list failed; retrying", "resource", c.res.GroupResource(), "err", err)
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		for ctx.Err() == nil {
			err := c.follow(ctx)
			if ctx.Err() != nil {
				return
			}
			if api.IsGone(err) {
				c.metrics.cacheRestarts.WithLabelValues(c.res.GroupResource()).Inc()
				break
			}
			slog.Warn("apiserver: store watch ended; resuming", "resource", c.res.GroupResource(), "rev", c.currentRev(), "err", err)
			backoff.wait(ctx)
		}
	}
	c.mu.Lock()
	c.closeAllLocked()
	c.mu.Unlock()
}

func (c *watchCache) relist(ctx context.Context) error {
	list, err := c.store.List(ctx, c.res, "", store.ListOptions{})
	if err != nil {
		return err
	}
	state := make(map[string]*cacheEvent, len(list.Items))
	for _, obj := range list.Items {
		ev, err := newCacheEvent(store.Added, obj, nil, list.Revision)
		if err != nil {
			return err
		}
		state[obj.GetObjectMeta().Key()] = ev
	}
	c.mu.Lock()
	c.closeAllLocked()
	c.state = state
	clear(c.ring)
	c.head, c.n = 0, 0
	c.oldest, c.rev = list.Revision, list.Revision
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	return nil
}

// follow applies store events until the watch fails.
func (c *watchCache) follow(ctx context.Context) error {
	w, err := c.store.Watch(ctx, c.res, "", c.currentRev())
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case store.Error:
			return ev.Err
		case store.Bookmark:
			c.mu.Lock()
			if ev.Revision > c.rev {
				c.rev = ev.Revision
				c.dispatchLocked(&cacheEvent{typ: store.Bookmark, rev: ev.Revision})
			}
			c.mu.Unlock()
		default:
			if err := c.apply(ev); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("store watch of %s closed", c.res.GroupResource())
}

func (c *watchCache) apply(ev store.Event) error {
	obj := ev.Object
	*obj.GetTypeMeta() = api.TypeMeta{APIVersion: c.res.APIVersion(), Kind: c.res.Kind}
	key := obj.GetObjectMeta().Key()
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Revision <= c.rev {
		return nil // already reflected by the list this watch resumed from
	}
	var prev api.Object
	if old := c.state[key]; old != nil {
		prev = old.obj
	}
	ce, err := newCacheEvent(ev.Type, obj, prev, ev.Revision)
	if err != nil {
		return err
	}
	if ev.Type == store.Deleted {
		delete(c.state, key)
	} else {
		c.state[key] = ce
	}
	c.rev = ev.Revision
	if c.n == c.capacity {
		// Evicting the oldest event: a watch from before it can no longer
		// be served completely.
		c.oldest = c.ring[c.head].rev
		c.ring[c.head] = nil
		c.head = (c.head + 1) % c.capacity
		c.n--
	}
	c.ring[(c.head+c.n)%c.capacity] = ce
	c.n++
	c.dispatchLocked(ce)
	return nil
}

func newCacheEvent(typ store.EventType, obj, prev api.Object, rev int64) (*cacheEvent, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("watch cache: encode %s %q: %w", obj.GetTypeMeta().Kind, obj.GetObjectMeta().Key(), err)
	}
	return &cacheEvent{typ: typ, obj: obj, prev: prev, rev: rev, json: data}, nil
}

// dispatchLocked hands ev to every watcher without blocking: a watcher whose
// buffer is full is closed so one slow client cannot stall the others.
func (c *watchCache) dispatchLocked(ev *cacheEvent) {
	for w := range c.watchers {
		select {
		case w.events <- ev:
		default:
			c.metrics.slowWatchers.WithLabelValues(c.res.GroupResource()).Inc()
			c.removeLocked(w)
		}
	}
}

func (c *watchCache) removeLocked(w *cacheWatcher) {
	if _, ok := c.watchers[w]; ok {
		delete(c.watchers, w)
		close(w.events)
	}
}

func (c *watchCache) closeAllLocked() {
	for w := range c.watchers {
		c.removeLocked(w)
	}
}

func (c *watchCache) currentRev() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev
}

// tooOld is the 410 a watch gets when its revision is older than the cache.
func tooOld(rv, oldest int64) *api.Status {
	return api.NewStatus(api.ReasonGone, "too old resource version: %d (%d); list again and watch from the list's resourceVersion", rv, oldest)
}

// subscribe registers a watcher. fromRV > 0 replays the buffered events after
// it; fromRV == 0 starts from the newest revision, and with withState the
// current objects come first as ADDED events.
func (c *watchCache) subscribe(ctx context.Context, fromRV int64, withState bool, f *watchFilter, buffer int) (*cacheWatcher, []*cacheEvent, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var initial []*cacheEvent
	switch {
	case fromRV == 0:
		fromRV = c.rev
		if withState {
			initial = c.stateLocked(f)
		}
	case fromRV < c.oldest:
		return nil, nil, tooOld(fromRV, c.oldest)
	default:
		for i := range c.n {
			if ev := c.ring[(c.head+i)%c.capacity]; ev.rev > fromRV {
				initial = append(initial, ev)
			}
		}
	}
	w := &cacheWatcher{events: make(chan *cacheEvent, buffer), fromRV: fromRV}
	c.watchers[w] = struct{}{}
	return w, initial, nil
}

// stateLocked returns the current objects passing f as ADDED events, in key
// order so a client sees a stable sequence.
func (c *watchCache) stateLocked(f *watchFilter) []*cacheEvent {
	keys := make([]string, 0, len(c.state))
	for k, ev := range c.state {
		if f.matches(ev.obj) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]*cacheEvent, len(keys))
	for i, k := range keys {
		out[i] = &cacheEvent{typ: store.Added, obj: c.state[k].obj, rev: c.state[k].rev, json: c.state[k].json}
	}
	return out
}

func (c *watchCache) unsubscribe(w *cacheWatcher) {
	c.mu.Lock()
	c.removeLocked(w)
	c.mu.Unlock()
}

// get returns the cached object for key, if the cache holds it.
func (c *watchCache) get(key string) (api.Object, bool) {
	select {
	case <-c.ready:
	default:
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev := c.state[key]; ev != nil {
		return ev.obj, true
	}
	return nil, false
}

// cacheWatcher is one subscriber; events is closed when the cache drops it.
type cacheWatcher struct {
	events chan *cacheEvent
	fromRV int64
}

// backoff doubles a wait from 100 ms up to 5 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	b.d = min(b.d*2, 5*time.Second)
}
