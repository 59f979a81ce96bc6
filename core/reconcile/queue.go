package reconcile

import (
	"container/heap"
	"sync"
	"time"
)

// Queue is a work queue of keys with the guarantees controllers rely on:
//   - a key is queued at most once however often it is added;
//   - a key is never handed to two workers at once: added while being
//     processed, it is processed once more after Done;
//   - AddAfter and AddRateLimited delay a key (the earliest delay wins);
//   - after ShutDown, Get drains nothing more and returns shutdown=true.
type Queue struct {
	clock   Clock
	limiter RateLimiter

	mu           sync.Mutex
	cond         *sync.Cond
	ready        []string
	dirty        map[string]struct{} // queued or waiting to be re-queued after Done
	processing   map[string]struct{}
	shuttingDown bool

	waiting    waitHeap
	waitingFor map[string]*waitItem
	wake       chan struct{}
	stopped    chan struct{}
}

// NewQueue returns a running queue. A nil clock is the wall clock and a nil
// limiter is DefaultRateLimiter.
func NewQueue(clock Clock, limiter RateLimiter) *Queue {
	if clock == nil {
		clock = RealClock{}
	}
	if limiter == nil {
		limiter = DefaultRateLimiter(clock)
	}
	q := &Queue{
		clock:      clock,
		limiter:    limiter,
		dirty:      map[string]struct{}{},
		processing: map[string]struct{}{},
		waitingFor: map[string]*waitItem{},
		wake:       make(chan struct{}, 1),
		stopped:    make(chan struct{}),
	}
	q.cond = sync.NewCond(&q.mu)
	go q.delayLoop()
	return q
}

// Add queues key now.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *Queue) addLocked(key string) {
	if q.shuttingDown {
		return
	}
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	if _, ok := q.processing[key]; ok {
		return // Done re-queues it
	}
	q.ready = append(q.ready, key)
	q.cond.Signal()
}

// AddAfter queues key once d has passed. A key already waiting keeps the
// earlier of its two deadlines.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return
	}
	at := q.clock.Now().Add(d)
	if item, ok := q.waitingFor[key]; ok {
		if at.Before(item.at) {
			item.at = at
			heap.Fix(&q.waiting, item.index)
		}
	} else {
		item := &waitItem{key: key, at: at}
		heap.Push(&q.waiting, item)
		q.waitingFor[key] = item
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// AddRateLimited queues key after the limiter's backoff for it.
func (q *Queue) AddRateLimited(key string) { q.AddAfter(key, q.limiter.When(key)) }

// Forget clears key's backoff after it was processed successfully.
func (q *Queue) Forget(key string) { q.limiter.Forget(key) }

// NumRequeues is how many times in a row key has failed.
func (q *Queue) NumRequeues(key string) int { return q.limiter.NumRequeues(key) }

// Get blocks until a key is ready and marks it as being processed; the
// caller must call Done(key) when finished. shutdown is true once the queue
// is shut down.
func (q *Queue) Get() (key string, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && !q.shuttingDown {
		q.cond.Wait()
	}
	if q.shuttingDown {
		return "", true
	}
	key = q.ready[0]
	q.ready[0] = ""
	q.ready = q.ready[1:]
	q.processing[key] = struct{}{}
	delete(q.dirty, key)
	return key, false
}

// Done marks key as processed; if it was added meanwhile it is queued again.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if _, ok := q.dirty[key]; ok && !q.shuttingDown {
		q.ready = append(q.ready, key)
		q.cond.Signal()
	}
}

// Len is the number of keys ready to be processed.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready)
}

// ShutDown makes Get return shutdown=true to every worker and drops queued
// and delayed keys. It is safe to call more than once.
func (q *Queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return
	}
	q.shuttingDown = true
	q.ready = nil
	close(q.stopped)
	q.cond.Broadcast()
}

// ShuttingDown reports whether ShutDown was called.
func (q *Queue) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shuttingDown
}

// delayLoop moves delayed keys to the ready list when their time comes.
func (q *Queue) delayLoop() {
	for {
		q.mu.Lock()
		now := q.clock.Now()
		for q.waiting.Len() > 0 && !q.waiting[0].at.After(now) {
			item := heap.Pop(&q.waiting).(*waitItem)
			delete(q.waitingFor, item.key)
			q.addLocked(item.key)
		}
		var timer Timer
		if q.waiting.Len() > 0 {
			timer = q.clock.NewTimer(q.waiting[0].at.Sub(now))
		}
		q.mu.Unlock()

		var fired <-chan time.Time
		if timer != nil {
			fired = timer.C()
		}
		select {
		case <-q.stopped:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-q.wake:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

type waitItem struct {
	key   string
	at    time.Time
	index int
}

type waitHeap []*waitItem

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	item := x.(*waitItem)
	item.index = len(*h)
	*h = append(*h, item)
}
func (h *waitHeap) Pop() any {
	old := *h
	item := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return item
}
