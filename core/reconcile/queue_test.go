package reconcile

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueDeduplicatesQueuedKeys(t *testing.T) {
	q := NewQueue(nil, nil)
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if got := q.Len(); got != 2 {
		t.Fatalf("Len = %d after adding a, b, a; want 2", got)
	}
	k1, _ := q.Get()
	k2, _ := q.Get()
	if k1 != "a" || k2 != "b" {
		t.Fatalf("Get order = %q, %q; want a, b (FIFO)", k1, k2)
	}
	q.Done(k1)
	q.Done(k2)
	if q.Len() != 0 {
		t.Fatalf("queue not empty after processing: %d", q.Len())
	}
}

func TestQueueKeyAddedWhileProcessingRunsOnceAfter(t *testing.T) {
	q := NewQueue(nil, nil)
	defer q.ShutDown()
	q.Add("a")
	key, _ := q.Get()
	q.Add("a")
	q.Add("a")
	if q.Len() != 0 {
		t.Fatalf("a key being processed must not be handed out again before Done; Len = %d", q.Len())
	}
	q.Done(key)
	if q.Len() != 1 {
		t.Fatalf("after Done the re-added key must be queued exactly once; Len = %d", q.Len())
	}
	key, _ = q.Get()
	q.Done(key)
	if q.Len() != 0 {
		t.Fatalf("key processed a third time; Len = %d", q.Len())
	}
}

func TestQueueNeverProcessesKeyConcurrently(t *testing.T) {
	q := NewQueue(nil, nil)
	var inFlight, maxInFlight, processed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, shutdown := q.Get()
				if shutdown {
					return
				}
				n := inFlight.Add(1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				inFlight.Add(-1)
				processed.Add(1)
				q.Done(key)
			}
		}()
	}
	for range 2000 {
		q.Add("same")
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	q.ShutDown()
	wg.Wait()
	if maxInFlight.Load() != 1 {
		t.Fatalf("one key was processed by %d workers at once; want 1", maxInFlight.Load())
	}
	if processed.Load() == 0 || processed.Load() >= 2000 {
		t.Fatalf("processed %d times for 2000 adds: want dedup to collapse them", processed.Load())
	}
}

func TestQueueAddAfterWaitsForTheClock(t *testing.T) {
	clock := NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clock, nil)
	defer q.ShutDown()
	q.AddAfter("later", 10*time.Second)
	q.AddAfter("later", 20*time.Second) // the earlier deadline wins
	waitFor(t, func() bool { return clock.Waiters() > 0 })
	clock.Step(9 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("key became ready before its delay")
	}
	clock.Step(time.Second)
	waitFor(t, func() bool { return q.Len() == 1 })
	key, _ := q.Get()
	q.Done(key)
	clock.Step(20 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("the later AddAfter of a key already waiting queued it a second time")
	}
}

func TestExponentialBackoff(t *testing.T) {
	l := NewExponentialLimiter(5*time.Millisecond, 1000*time.Second)
	want := []time.Duration{5, 10, 20, 40, 80}
	for i, w := range want {
		if got := l.When("k"); got != w*time.Millisecond {
			t.Fatalf("failure %d: backoff %s, want %s", i+1, got, w*time.Millisecond)
		}
	}
	if l.When("other") != 5*time.Millisecond {
		t.Fatal("backoff must be per key")
	}
	for range 40 {
		l.When("k")
	}
	if got := l.When("k"); got != 1000*time.Second {
		t.Fatalf("backoff not capped: %s", got)
	}
	if l.NumRequeues("k") != 46 {
		t.Fatalf("NumRequeues = %d, want 46", l.NumRequeues("k"))
	}
	l.Forget("k")
	if got := l.When("k"); got != 5*time.Millisecond {
		t.Fatalf("after Forget backoff = %s, want 5ms", got)
	}
}

func TestBucketLimiterCapsRetryRate(t *testing.T) {
	clock := NewFakeClock(time.Unix(0, 0))
	b := NewBucketLimiter(clock, 10, 3)
	for i := range 3 {
		if d := b.When("k"); d != 0 {
			t.Fatalf("retry %d within burst delayed %s", i, d)
		}
	}
	if d := b.When("k"); d != 100*time.Millisecond {
		t.Fatalf("first retry past the burst: %s, want 100ms", d)
	}
	if d := b.When("k"); d != 200*time.Millisecond {
		t.Fatalf("second retry past the burst: %s, want 200ms", d)
	}
	clock.Step(time.Second)
	if d := b.When("k"); d != 0 {
		t.Fatalf("after refilling, retry delayed %s", d)
	}
}

func TestAddRateLimitedBacksOff(t *testing.T) {
	clock := NewFakeClock(time.Unix(0, 0))
	q := NewQueue(clock, NewExponentialLimiter(time.Second, time.Minute))
	defer q.ShutDown()
	q.AddRateLimited("k") // 1s
	waitFor(t, func() bool { return clock.Waiters() > 0 })
	clock.Step(time.Second)
	waitFor(t, func() bool { return q.Len() == 1 })
	key, _ := q.Get()
	q.Done(key)
	q.AddRateLimited("k") // 2s
	waitFor(t, func() bool { return clock.Waiters() > 0 })
	clock.Step(time.Second)
	time.Sleep(10 * time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("second failure was retried after 1s; want 2s")
	}
	clock.Step(time.Second)
	waitFor(t, func() bool { return q.Len() == 1 })
	q.Forget("k")
	if q.NumRequeues("k") != 0 {
		t.Fatal("Forget did not reset the failure count")
	}
}

func TestQueueShutDownReleasesWorkers(t *testing.T) {
	q := NewQueue(nil, nil)
	done := make(chan bool)
	go func() {
		_, shutdown := q.Get()
		done <- shutdown
	}()
	time.Sleep(10 * time.Millisecond)
	q.ShutDown()
	select {
	case shutdown := <-done:
		if !shutdown {
			t.Fatal("Get returned a key after ShutDown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a worker blocked in Get was not released by ShutDown")
	}
	q.Add("x")
	if _, shutdown := q.Get(); !shutdown {
		t.Fatal("Add after ShutDown queued a key")
	}
	q.ShutDown() // idempotent
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
