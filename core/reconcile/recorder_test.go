package reconcile

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

type fakeEventWriter struct {
	mu      sync.Mutex
	events  map[string]*api.Event
	created int
	patched int
}

// drainSink writes every event due at the clock's time, as the sink's
// writers would.
func drainSink(t *testing.T, sink *EventSink, clock *FakeClock) {
	t.Helper()
	for {
		p, _ := sink.take(clock.Now())
		if p == nil {
			return
		}
		if err := sink.write(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fakeEventWriter) create(_ context.Context, ev *api.Event) (*api.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created++
	cp := *ev
	f.events[ev.Namespace+"/"+ev.Name] = &cp
	return &cp, nil
}

func (f *fakeEventWriter) patch(_ context.Context, ns, name string, count int32, last time.Time, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev, ok := f.events[ns+"/"+name]
	if !ok {
		return api.NewStatus(api.ReasonNotFound, "events %q not found", name)
	}
	ev.Count, ev.LastTimestamp, ev.Message = count, last, message
	f.patched++
	return nil
}

func TestEventSinkAggregatesRepeatsWithinTenMinutes(t *testing.T) {
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := &fakeEventWriter{events: map[string]*api.Event{}}
	sink := newEventSink(w, clock, nil)
	rec := sink.Recorder("replicaset-controller")
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}}
	drain := func() { drainSink(t, sink, clock) }

	rec.Event(rs, EventWarning, "FailedCreate", "quota exceeded")
	clock.Step(time.Minute)
	rec.Event(rs, EventWarning, "FailedCreate", "quota exceeded")
	clock.Step(time.Minute)
	rec.Event(rs, EventWarning, "FailedCreate", "quota exceeded")
	rec.Eventf(rs, EventNormal, "SuccessfulCreate", "Created pod: %s", "web-abcde")
	drain()
	if w.created != 2 {
		t.Fatalf("created %d events, want 2 (three repeats aggregated + one distinct)", w.created)
	}
	var agg *api.Event
	for _, ev := range w.events {
		if ev.Reason == "FailedCreate" {
			agg = ev
		}
	}
	if agg.Count != 3 || !agg.LastTimestamp.Equal(agg.FirstTimestamp.Add(2*time.Minute)) {
		t.Fatalf("aggregated event count=%d first=%s last=%s; want count 3, last = first+2m", agg.Count, agg.FirstTimestamp, agg.LastTimestamp)
	}
	if agg.Source.Component != "replicaset-controller" || agg.InvolvedObject.Kind != "ReplicaSet" ||
		agg.InvolvedObject.APIVersion != "apps/v1" || agg.InvolvedObject.UID != "u1" || agg.Type != EventWarning {
		t.Fatalf("event fields wrong: %+v", agg)
	}

	// Past the window a repeat starts a new Event.
	clock.Step(11 * time.Minute)
	rec.Event(rs, EventWarning, "FailedCreate", "quota exceeded")
	drain()
	if w.created != 3 {
		t.Fatalf("a repeat after 11 minutes must create a new event; created = %d", w.created)
	}
}

func TestEventAboutClusterScopedObjectGoesToDefault(t *testing.T) {
	ev := newEvent(&api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}, EventNormal, "Registered", "x", api.EventSource{Component: "c"}, time.Now())
	if ev.Namespace != "default" || ev.InvolvedObject.Namespace != "" || ev.InvolvedObject.Kind != "Node" {
		t.Fatalf("event about a node: namespace %q involved %+v", ev.Namespace, ev.InvolvedObject)
	}
}

func TestEventSinkCombinesSimilarEventsOfABurst(t *testing.T) {
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := &fakeEventWriter{events: map[string]*api.Event{}}
	sink := newEventSink(w, clock, nil)
	rec := sink.Recorder("replicaset-controller")
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}}
	other := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "db", UID: "u2"}}

	for i := range 10 {
		rec.Eventf(rs, EventNormal, "SuccessfulCreate", "Created pod: web-%d", i)
	}
	rec.Eventf(other, EventNormal, "SuccessfulCreate", "Created pod: db-0")
	drainSink(t, sink, clock)
	// The first of each kind goes out at once; the rest wait to be combined.
	if w.created != 2 {
		t.Fatalf("created %d events before the coalescing delay, want 2 (the first about each replica set)", w.created)
	}
	clock.Step(coalesceDelay)
	drainSink(t, sink, clock)
	if w.created != 3 {
		t.Fatalf("created %d events, want 3: web's first, db's first and one combining web's other 9", w.created)
	}
	var first, combined *api.Event
	for _, ev := range w.events {
		switch {
		case ev.InvolvedObject.Name != "web":
		case ev.Message == "Created pod: web-0":
			first = ev
		default:
			combined = ev
		}
	}
	if first == nil || first.Count != 1 {
		t.Fatalf("the first event must be written as recorded, got %+v", first)
	}
	if combined == nil || combined.Count != 9 || combined.Message != combinedPrefix+"Created pod: web-9" || combined.Reason != "SuccessfulCreate" {
		t.Fatalf("combined event = %+v; want count 9, message %q", combined, combinedPrefix+"Created pod: web-9")
	}

	// More of the same within the window add to the combined Event: one
	// patch for the next burst.
	clock.Step(time.Minute)
	for i := 10; i < 15; i++ {
		rec.Eventf(rs, EventNormal, "SuccessfulCreate", "Created pod: web-%d", i)
	}
	clock.Step(coalesceDelay)
	drainSink(t, sink, clock)
	if w.created != 3 || w.patched != 1 {
		t.Fatalf("created %d, patched %d; want the burst folded into one patch of the combined event", w.created, w.patched)
	}
	if combined.Count != 14 || combined.Message != combinedPrefix+"Created pod: web-14" {
		t.Fatalf("combined event after the patch: count %d message %q", combined.Count, combined.Message)
	}
}

func TestEventSinkWritersDeliverDelayedEvents(t *testing.T) {
	w := &fakeEventWriter{events: map[string]*api.Event{}}
	sink := newEventSink(w, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sink.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	rec := sink.Recorder("c")
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "p"}}
	rec.Event(pod, EventWarning, "BackOff", "one")
	rec.Event(pod, EventWarning, "BackOff", "two")
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		created := w.created
		w.mu.Unlock()
		if created == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writers wrote %d of 2 events in 10s", created)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
