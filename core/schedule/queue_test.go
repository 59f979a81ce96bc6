package schedule

import (
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time       { return f.t }
func (f *fakeNow) step(d time.Duration) { f.t = f.t.Add(d) }
func newTestQueue() (*Queue, *fakeNow) {
	c := &fakeNow{t: time.Unix(1000, 0)}
	return NewQueue(c.now), c
}
func qpod(name string) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: name}}
}

func add(q *Queue, name string, prio int32) {
	p := qpod(name)
	q.Add(p, &scheduler.Pod{Namespace: "ns", Name: name, Priority: prio}, true)
}

func popNames(t *testing.T, q *Queue) []string {
	t.Helper()
	var out []string
	for {
		qp, _ := q.TryPop()
		if qp == nil {
			return out
		}
		out = append(out, qp.Pod.Name)
	}
}

func TestQueueOrdersByPriorityThenAge(t *testing.T) {
	q, clock := newTestQueue()
	for _, p := range []struct {
		name string
		prio int32
	}{{"old-low", 0}, {"high", 10}, {"mid", 5}, {"new-low", 0}, {"high-later", 10}} {
		add(q, p.name, p.prio)
		clock.step(time.Millisecond)
	}
	got := popNames(t, q)
	want := []string{"high", "high-later", "mid", "old-low", "new-low"}
	if len(got) != len(want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("popped %v, want %v", got, want)
		}
	}
}

func TestQueueBackoffGrowsToTenSeconds(t *testing.T) {
	q, clock := newTestQueue()
	add(q, "p", 0)
	for attempt, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		qp, _ := q.TryPop()
		if qp == nil {
			t.Fatalf("attempt %d: pod not active", attempt)
		}
		q.Failed(qp, false)
		clock.step(wait - time.Millisecond)
		if qp, next := q.TryPop(); qp != nil {
			t.Fatalf("attempt %d: popped before its %s backoff ended", attempt, wait)
		} else if next.Sub(clock.t) != time.Millisecond {
			t.Fatalf("attempt %d: next ready in %s, want 1ms", attempt, next.Sub(clock.t))
		}
		clock.step(time.Millisecond)
	}
}

func TestQueueUnschedulableWaitsForClusterChange(t *testing.T) {
	q, clock := newTestQueue()
	add(q, "p", 0)
	qp, _ := q.TryPop()
	q.Failed(qp, true)
	clock.step(30 * time.Second) // past the backoff, but nothing changed
	if got := popNames(t, q); len(got) != 0 {
		t.Fatalf("unschedulable pod retried without a cluster change: %v", got)
	}
	// A status-only update does not retry it either.
	q.Add(qpod("p"), qp.View, false)
	if got := popNames(t, q); len(got) != 0 {
		t.Fatalf("retried after a status update: %v", got)
	}
	q.MoveAll() // e.g. a node was added
	if got := popNames(t, q); len(got) != 1 {
		t.Fatalf("after a node was added: popped %v, want the pod", got)
	}
}

func TestQueueUnschedulableFlushedAfterAMinute(t *testing.T) {
	q, clock := newTestQueue()
	add(q, "p", 0)
	qp, _ := q.TryPop()
	q.Failed(qp, true)
	clock.step(UnschedulableFlush - time.Second)
	q.FlushUnschedulable()
	if _, _, u := q.Counts(); u != 1 {
		t.Fatalf("flushed before %s", UnschedulableFlush)
	}
	clock.step(time.Second)
	q.FlushUnschedulable()
	if got := popNames(t, q); len(got) != 1 {
		t.Fatalf("not retried after %s: %v", UnschedulableFlush, got)
	}
}

func TestQueueMoveDuringAttemptRetriesAtOnce(t *testing.T) {
	q, clock := newTestQueue()
	add(q, "p", 0)
	qp, _ := q.TryPop()
	q.MoveAll() // a node appeared while the pod was being scheduled
	q.Failed(qp, true)
	clock.step(time.Second)
	if got := popNames(t, q); len(got) != 1 {
		t.Fatalf("pod parked despite a cluster change during its attempt: %v", got)
	}
}

func TestQueueDeleteAndBindFailure(t *testing.T) {
	q, clock := newTestQueue()
	add(q, "gone", 0)
	add(q, "bound", 0)
	q.Delete("ns/gone")
	qp, _ := q.TryPop()
	if qp == nil || qp.Pod.Name != "bound" {
		t.Fatalf("popped %v, want bound", qp)
	}
	q.Done(qp)
	if q.Has("ns/bound") {
		t.Fatal("a placed pod is still queued")
	}
	q.Failed(qp, false) // its binding failed: it comes back after a backoff
	clock.step(time.Second)
	if got := popNames(t, q); len(got) != 1 || got[0] != "bound" {
		t.Fatalf("after a failed binding popped %v", got)
	}
}
