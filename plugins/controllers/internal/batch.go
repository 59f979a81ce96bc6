package internal

import (
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// StatusInterval is the least time between two intermediate status writes
// of one object. While pods come up one by one, each would otherwise cost a
// write; batching them leaves the API server and etcd to the pods.
const StatusInterval = time.Second

// StatusBatcher spaces out status writes per object key. Writes that reach
// a final state (the object converged, its generation or a condition
// changed) are never delayed: only intermediate counts are batched.
type StatusBatcher struct {
	clock reconcile.Clock
	mu    sync.Mutex
	last  map[string]time.Time
}

// NewStatusBatcher returns a batcher on clock.
func NewStatusBatcher(clock reconcile.Clock) *StatusBatcher {
	return &StatusBatcher{clock: clock, last: map[string]time.Time{}}
}

// Delay returns how long to wait before writing key's status (0 = now).
func (b *StatusBatcher) Delay(key string, final bool) time.Duration {
	if final {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	last, ok := b.last[key]
	if !ok {
		return 0
	}
	return max(0, StatusInterval-b.clock.Since(last))
}

// Write writes key's status with write, now or, for an intermediate status
// written less than StatusInterval ago, later: then it returns how long to
// wait before trying again. An object already gone is not an error.
func (b *StatusBatcher) Write(key string, final bool, write func() error) (wait time.Duration, err error) {
	if wait := b.Delay(key, final); wait > 0 {
		return wait, nil
	}
	if err := write(); err != nil && !api.IsNotFound(err) {
		return 0, err
	}
	b.Wrote(key)
	return 0, nil
}

// Wrote records a status write of key.
func (b *StatusBatcher) Wrote(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.last[key] = now
	// Forget keys idle for long so the map tracks only active objects.
	if len(b.last) > 1024 && len(b.last)%1024 == 0 {
		for k, t := range b.last {
			if now.Sub(t) > StatusInterval {
				delete(b.last, k)
			}
		}
	}
}

// Forget drops key (its object was deleted).
func (b *StatusBatcher) Forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.last, key)
}
