package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Recorder records v1 Events about objects. Recording never blocks the
// caller: events are written in the background and dropped (with a log
// line) if the writer falls far behind.
type Recorder interface {
	Event(obj api.Object, eventType, reason, message string)
	Eventf(obj api.Object, eventType, reason, format string, args ...any)
}

const (
	// aggregateWindow: a repeat of the same event within it bumps the count
	// of the existing Event instead of creating another.
	aggregateWindow = 10 * time.Minute
	// coalesceDelay holds back repeats and combined events so that a burst
	// (a ReplicaSet creating its pods) costs one write, not one per event.
	// The first event of a kind is written at once.
	coalesceDelay = 2 * time.Second
	// combinedPrefix starts the message of an Event standing for several
	// similar ones (same object, type and reason), as Kubernetes words it.
	combinedPrefix = "(combined from similar events): "
	// maxTracked bounds the memory of recent events kept for aggregation.
	maxTracked = 4096
	// sinkBuffer bounds the events waiting to be written.
	sinkBuffer = 4096
	// sinkWriters write events in parallel: one round trip at a time would
	// fall behind a burst of thousands of pod creations.
	sinkWriters = 4
	// dropLogInterval rate-limits the warning about dropped events.
	dropLogInterval = 10 * time.Second
)

// eventWriter is the part of the API the sink needs; an interface so the
// aggregation logic is testable without a server.
type eventWriter interface {
	create(ctx context.Context, ev *api.Event) (*api.Event, error)
	patch(ctx context.Context, namespace, name string, count int32, last time.Time, message string) error
}

type clientWriter struct{ c *client.Client }

func (w clientWriter) create(ctx context.Context, ev *api.Event) (*api.Event, error) {
	return client.Create(ctx, w.c, ev)
}

func (w clientWriter) patch(ctx context.Context, namespace, name string, count int32, last time.Time, message string) error {
	body, err := json.Marshal(map[string]any{"count": count, "lastTimestamp": last, "message": message})
	if err != nil {
		return err
	}
	_, err = w.c.Patch(ctx, client.ResourceOf[*api.Event](), namespace, name, body)
	return err
}

// EventSink writes the events of every Recorder it hands out. Like
// Kubernetes' event correlator it folds an identical repeat into the count
// of the Event already written, and events that differ only in message
// (one "Created pod: <name>" per pod) into one combined Event after the
// first; on top of that, events waiting to be written merge, so a burst
// costs a write or two instead of one per event.
type EventSink struct {
	writer eventWriter
	clock  Clock
	log    *slog.Logger

	mu      sync.Mutex
	pending map[string]*pendingEvent // by key, until a writer takes it
	ready   []*pendingEvent          // to write at once, oldest first
	delayed []*pendingEvent          // to write at their due time, which grows
	wake    chan struct{}            // a writer should look again
	recent  map[string]*trackedEvent // written Events, by key
	similar map[string]time.Time     // similarKey -> last seen

	dropped     atomic.Int64
	lastDropLog atomic.Int64 // unix nanos
}

// pendingEvent is an Event waiting for a writer; ev.Count counts the
// occurrences merged into it.
type pendingEvent struct {
	key string
	ev  *api.Event
	due time.Time
}

type trackedEvent struct {
	namespace, name string
	count           int32
	last            time.Time
}

// NewEventSink returns a sink writing Events through c. Call Run to start it.
func NewEventSink(c *client.Client, clock Clock, log *slog.Logger) *EventSink {
	return newEventSink(clientWriter{c}, clock, log)
}

func newEventSink(w eventWriter, clock Clock, log *slog.Logger) *EventSink {
	if clock == nil {
		clock = RealClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &EventSink{
		writer: w, clock: clock, log: log,
		pending: map[string]*pendingEvent{}, wake: make(chan struct{}, 1),
		recent: map[string]*trackedEvent{}, similar: map[string]time.Time{},
	}
}

// Recorder returns a recorder whose events name component as their source
// ("deployment-controller").
func (s *EventSink) Recorder(component string) Recorder {
	return &recorder{sink: s, source: api.EventSource{Component: component}}
}

// HostRecorder is Recorder for a component that runs on one node (the node
// agent), which Kubernetes names in source.host.
func (s *EventSink) HostRecorder(component, host string) Recorder {
	return &recorder{sink: s, source: api.EventSource{Component: component, Host: host}}
}

// Run writes queued events until ctx ends.
func (s *EventSink) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range sinkWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.writeLoop(ctx)
		}()
	}
	wg.Wait()
}

func (s *EventSink) writeLoop(ctx context.Context) {
	for {
		p, wait := s.take(s.clock.Now())
		if p != nil {
			if err := s.write(ctx, p); err != nil && ctx.Err() == nil {
				s.log.Warn("could not record event", "reason", p.ev.Reason, "object", p.ev.InvolvedObject.Name, "err", err)
			}
			continue
		}
		var timer Timer
		var fired <-chan time.Time
		if wait > 0 {
			timer = s.clock.NewTimer(wait)
			fired = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// add queues ev, merging it into an event already waiting under the same key.
func (s *EventSink) add(ev *api.Event) {
	now := ev.LastTimestamp
	s.mu.Lock()
	defer s.mu.Unlock()
	key, delay := aggregateKey(ev), time.Duration(0)
	sim := similarKey(ev)
	if prev := s.recent[key]; prev != nil && now.Sub(prev.last) <= aggregateWindow {
		delay = coalesceDelay // a repeat: one patch for the burst
	} else if seen, ok := s.similar[sim]; ok && now.Sub(seen) <= aggregateWindow && s.pending[key] == nil {
		key, delay = sim+"\x00combined", coalesceDelay
		ev.Message = combinedPrefix + ev.Message
	}
	if len(s.similar) >= maxTracked {
		evictOlder(s.similar, now, func(t time.Time) time.Time { return t })
	}
	s.similar[sim] = now
	if p := s.pending[key]; p != nil {
		p.ev.Count += ev.Count
		p.ev.LastTimestamp, p.ev.Message = now, ev.Message
		return
	}
	if len(s.pending) >= sinkBuffer {
		s.drop()
		return
	}
	p := &pendingEvent{key: key, ev: ev}
	s.pending[key] = p
	if delay == 0 {
		s.ready = append(s.ready, p)
	} else {
		p.due = s.clock.Now().Add(delay)
		s.delayed = append(s.delayed, p)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns the next event due at now, or how long until one is due
// (0: nothing is waiting).
func (s *EventSink) take(now time.Time) (*pendingEvent, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p *pendingEvent
	switch {
	case len(s.ready) > 0:
		p, s.ready = s.ready[0], s.ready[1:]
	case len(s.delayed) > 0 && !s.delayed[0].due.After(now):
		p, s.delayed = s.delayed[0], s.delayed[1:]
	case len(s.delayed) > 0:
		return nil, s.delayed[0].due.Sub(now)
	default:
		return nil, 0
	}
	delete(s.pending, p.key)
	if len(s.ready)+len(s.delayed) > 0 {
		select { // another writer can start on the rest
		case s.wake <- struct{}{}:
		default:
		}
	}
	return p, 0
}

// write creates the Event or, when one was written under the same key
// within the window, adds to its count.
func (s *EventSink) write(ctx context.Context, p *pendingEvent) error {
	ev, now := p.ev, p.ev.LastTimestamp
	s.mu.Lock()
	prev := s.recent[p.key]
	var count int32
	if prev != nil {
		count = prev.count
	}
	s.mu.Unlock()
	if prev != nil && now.Sub(prev.last) <= aggregateWindow {
		err := s.writer.patch(ctx, prev.namespace, prev.name, count+ev.Count, now, ev.Message)
		if err == nil {
			s.mu.Lock()
			prev.count += ev.Count
			prev.last = now
			s.mu.Unlock()
			return nil
		}
		if !api.IsNotFound(err) {
			return err
		}
		// Someone deleted the Event: start a new one.
	}
	created, err := s.writer.create(ctx, ev)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) >= maxTracked {
		evictOlder(s.recent, now, func(t *trackedEvent) time.Time { return t.last })
	}
	s.recent[p.key] = &trackedEvent{namespace: created.Namespace, name: created.Name, count: ev.Count, last: now}
	return nil
}

// evictOlder forgets entries past the window, or everything if all are
// recent (a burst of distinct events; aggregation is best effort).
func evictOlder[V any](m map[string]V, now time.Time, last func(V) time.Time) {
	for k, v := range m {
		if now.Sub(last(v)) > aggregateWindow {
			delete(m, k)
		}
	}
	if len(m) >= maxTracked {
		clear(m)
	}
}

// aggregateKey identifies identical events.
func aggregateKey(ev *api.Event) string {
	return similarKey(ev) + "\x00" + ev.Message
}

// similarKey identifies events that differ at most in message.
func similarKey(ev *api.Event) string {
	o := ev.InvolvedObject
	return strings.Join([]string{ev.Source.Component, o.Kind, o.Namespace, o.Name, o.UID, ev.Type, ev.Reason}, "\x00")
}

type recorder struct {
	sink   *EventSink
	source api.EventSource
}

func (r *recorder) Eventf(obj api.Object, eventType, reason, format string, args ...any) {
	r.Event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) Event(obj api.Object, eventType, reason, message string) {
	r.sink.add(newEvent(obj, eventType, reason, message, r.source, r.sink.clock.Now()))
}

// drop counts an event that did not fit the queue and says so at most once
// per dropLogInterval.
func (s *EventSink) drop() {
	n := s.dropped.Add(1)
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last >= int64(dropLogInterval) && s.lastDropLog.CompareAndSwap(last, now) {
		s.log.Warn("event queue full: dropping events; the API server is not keeping up", "dropped_total", n)
	}
}

// newEvent builds the Event for obj. Events about cluster-scoped objects
// (nodes, namespaces) live in "default", as in Kubernetes.
func newEvent(obj api.Object, eventType, reason, message string, source api.EventSource, now time.Time) *api.Event {
	meta := obj.GetObjectMeta()
	kind, apiVersion := obj.GetTypeMeta().Kind, obj.GetTypeMeta().APIVersion
	if res, ok := api.ResourceFor(obj); ok {
		kind, apiVersion = res.Kind, res.APIVersion()
	}
	ns := meta.Namespace
	if ns == "" {
		ns = "default"
	}
	now = now.UTC().Truncate(time.Second)
	return &api.Event{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: api.ObjectMeta{
			// Kubernetes' naming: unique per occurrence, sortable by time.
			Name:      meta.Name + "." + strconv.FormatInt(time.Now().UnixNano(), 16),
			Namespace: ns,
		},
		InvolvedObject: api.ObjectReference{
			Kind: kind, APIVersion: apiVersion, Namespace: meta.Namespace, Name: meta.Name,
			UID: meta.UID, ResourceVersion: meta.ResourceVersion,
		},
		Reason:         reason,
		Message:        message,
		Source:         source,
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
		Type:           eventType,
	}
}
