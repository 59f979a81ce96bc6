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
}

func (f *fakeEventWriter) create(_ context.Context, ev *api.Event) (*api.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created++
	cp := *ev
	f.events[ev.Namespace+"/"+ev.Name] = &cp
	return &cp, nil
}

func (f *fakeEventWriter) patch(_ context.Context, ns, name string, count int32, last time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev, ok := f.events[ns+"/"+name]
	if !ok {
		return api.NewStatus(api.ReasonNotFound, "events %q not found", name)
	}
	ev.Count, ev.LastTimestamp = count, last
	return nil
}

func TestEventSinkAggregatesRepeatsWithinTenMinutes(t *testing.T) {
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	w := &fakeEventWriter{events: map[string]*api.Event{}}
	sink := newEventSink(w, clock, nil)
	rec := sink.Recorder("replicaset-controller")
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}}
	ctx := context.Background()
	drain := func() {
		for len(sink.queue) > 0 {
			if err := sink.write(ctx, <-sink.queue); err != nil {
				t.Fatal(err)
			}
		}
	}

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
	ev := newEvent(&api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}, EventNormal, "Registered", "x", "c", time.Now())
	if ev.Namespace != "default" || ev.InvolvedObject.Namespace != "" || ev.InvolvedObject.Kind != "Node" {
		t.Fatalf("event about a node: namespace %q involved %+v", ev.Namespace, ev.InvolvedObject)
	}
}
