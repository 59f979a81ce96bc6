package schedule

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Backoff and retry timings, as kube-scheduler's defaults.
const (
	InitialBackoff = time.Second
	MaxBackoff     = 10 * time.Second
	// UnschedulableFlush is how long a pod may stay unschedulable without a
	// cluster change before it is tried again anyway.
	UnschedulableFlush = 60 * time.Second
)

// QueuedPod is a pod waiting to be scheduled, with its view.
type QueuedPod struct {
	Key  string
	Pod  *api.Pod
	View *scheduler.Pod
	// Attempts counts failed scheduling attempts.
	Attempts int

	added   time.Time // first enqueued: the age order
	readyAt time.Time // end of the backoff
	parked  time.Time // entered the unschedulable set
	where   int
	index   int // in its heap
	moveSeq uint64
}

const (
	inActive = iota + 1
	inBackoff
	inUnschedulable
	inFlight
)

// Queue orders the pods to schedule: an active heap (higher priority first,
// then older first), a backoff heap (per-pod exponential backoff from 1 s to
// 10 s after a failure) and an unschedulable set retried when the cluster
// changes (MoveAll) or after UnschedulableFlush.
type Queue struct {
	now func() time.Time

	mu            sync.Mutex
	pods          map[string]*QueuedPod
	active        podHeap
	backoff       podHeap
	unschedulable map[string]*QueuedPod
	// moveSeq grows on every MoveAll; a pod that failed as unschedulable
	// while a move happened during its attempt is retried at once, as the
	// change may have made room.
	moveSeq uint64
	wake    chan struct{}
}

// NewQueue returns an empty queue; now nil means time.Now.
func NewQueue(now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	q := &Queue{now: now, pods: map[string]*QueuedPod{}, unschedulable: map[string]*QueuedPod{}, wake: make(chan struct{}, 1)}
	q.active.less = func(a, b *QueuedPod) bool {
		if a.View.Priority != b.View.Priority {
			return a.View.Priority > b.View.Priority
		}
		return a.added.Before(b.added)
	}
	q.backoff.less = func(a, b *QueuedPod) bool { return a.readyAt.Before(b.readyAt) }
	return q
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Add enqueues a new pod or updates a queued one. An updated pod that was
// unschedulable is tried again when retry is set (its change may make it
// fit), after its backoff if that has not ended; pass retry false for a
// change no policy sees, such as a status update.
func (q *Queue) Add(pod *api.Pod, v *scheduler.Pod, retry bool) {
	key := pod.Namespace + "/" + pod.Name
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	if qp := q.pods[key]; qp != nil {
		qp.Pod, qp.View = pod, v
		switch qp.where {
		case inActive:
			heap.Fix(&q.active, qp.index)
		case inUnschedulable:
			if !retry {
				return
			}
			delete(q.unschedulable, key)
			q.requeueLocked(qp, now)
		}
		return
	}
	qp := &QueuedPod{Key: key, Pod: pod, View: v, added: now}
	q.pods[key] = qp
	q.pushActive(qp)
}

func (q *Queue) pushActive(qp *QueuedPod) {
	qp.where = inActive
	heap.Push(&q.active, qp)
	q.signal()
}

// requeueLocked sends qp to backoff, or straight to active once its backoff
// is over.
func (q *Queue) requeueLocked(qp *QueuedPod, now time.Time) {
	if qp.readyAt.After(now) {
		qp.where = inBackoff
		heap.Push(&q.backoff, qp)
		q.signal() // Pop recomputes its timer
		return
	}
	q.pushActive(qp)
}

// Delete removes a pod (deleted, or bound by someone else).
func (q *Queue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[key]
	if qp == nil {
		return
	}
	delete(q.pods, key)
	switch qp.where {
	case inActive:
		heap.Remove(&q.active, qp.index)
	case inBackoff:
		heap.Remove(&q.backoff, qp.index)
	case inUnschedulable:
		delete(q.unschedulable, key)
	}
	qp.where = 0
}

// Has reports whether the pod is queued or in flight.
func (q *Queue) Has(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pods[key] != nil
}

// Len is the number of pods queued or in flight.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pods)
}

// TryPop returns the next active pod, first moving pods whose backoff
// ended, or nil and the time the next backoff ends (zero if none).
func (q *Queue) TryPop() (*QueuedPod, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	q.flushBackoffLocked(now)
	if q.active.Len() == 0 {
		var next time.Time
		if q.backoff.Len() > 0 {
			next = q.backoff.items[0].readyAt
		}
		return nil, next
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	qp.where = inFlight
	qp.moveSeq = q.moveSeq
	return qp, time.Time{}
}

// Pop blocks until a pod is active or ctx ends (nil).
func (q *Queue) Pop(ctx context.Context) *QueuedPod {
	for {
		qp, next := q.TryPop()
		if qp != nil {
			return qp
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			t := time.NewTimer(max(next.Sub(q.now()), time.Millisecond))
			timer = t.C
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-timer:
		}
	}
}

func (q *Queue) flushBackoffLocked(now time.Time) {
	for q.backoff.Len() > 0 && !q.backoff.items[0].readyAt.After(now) {
		qp := heap.Pop(&q.backoff).(*QueuedPod)
		qp.where = inActive
		heap.Push(&q.active, qp)
	}
}

// Done ends a pod's attempt that placed it: it leaves the queue (Failed
// brings it back if its binding fails).
func (q *Queue) Done(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Key] == qp {
		delete(q.pods, qp.Key)
	}
}

// Failed ends a pod's failed attempt. An unschedulable pod (no node fits)
// waits for a cluster change unless one happened during the attempt; any
// other failure (a plugin error, a rejected binding) backs off and retries.
// A pod deleted meanwhile is dropped.
func (q *Queue) Failed(qp *QueuedPod, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Key] != qp {
		if q.pods[qp.Key] != nil || qp.where != inFlight {
			return
		}
		// Done was called (the binding was attempted) and it failed: the
		// pod comes back.
		q.pods[qp.Key] = qp
	}
	now := q.now()
	qp.Attempts++
	qp.readyAt = now.Add(backoffFor(qp.Attempts))
	if unschedulable && qp.moveSeq == q.moveSeq {
		qp.where = inUnschedulable
		qp.parked = now
		q.unschedulable[qp.Key] = qp
		return
	}
	q.requeueLocked(qp, now)
}

// backoffFor is 1 s doubled per earlier failure, at most 10 s.
func backoffFor(attempts int) time.Duration {
	d := InitialBackoff
	for i := 1; i < attempts && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// MoveAll retries every unschedulable pod after a cluster change (a node
// added or changed, a pod deleted, labels changed): each goes to active, or
// to backoff if its backoff has not ended.
func (q *Queue) MoveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveSeq++
	now := q.now()
	for key, qp := range q.unschedulable {
		delete(q.unschedulable, key)
		q.requeueLocked(qp, now)
	}
}

// FlushUnschedulable retries the pods unschedulable for longer than
// UnschedulableFlush.
func (q *Queue) FlushUnschedulable() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for key, qp := range q.unschedulable {
		if now.Sub(qp.parked) >= UnschedulableFlush {
			delete(q.unschedulable, key)
			q.requeueLocked(qp, now)
		}
	}
}

// Counts reports how many pods are active, backing off and unschedulable.
func (q *Queue) Counts() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// podHeap is a container/heap of queued pods keeping their index.
type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	qp := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	qp.index = -1
	return qp
}
