package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
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
	// maxTracked bounds the memory of recent events kept for aggregation.
	maxTracked = 4096
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
	patch(ctx context.Context, namespace, name string, count int32, last time.Time) error
}

type clientWriter struct{ c *client.Client }

func (w clientWriter) create(ctx context.Context, ev *api.Event) (*api.Event, error) {
	return client.Create(ctx, w.c, ev)
}

func (w clientWriter) patch(ctx context.Context, namespace, name string, count int32, last time.Time) error {
	body, err := json.Marshal(map[string]any{"count": count, "lastTimestamp": last})
	if err != nil {
		return err
	}
	_, err = w.c.Patch(ctx, client.ResourceOf[*api.Event](), namespace, name, body)
	return err
}

// EventSink writes the events of every Recorder it hands out.
type EventSink struct {
	writer eventWriter
	clock  Clock
	log    *slog.Logger
	queue  chan *api.Event

	mu     sync.Mutex
	recent map[string]*trackedEvent

	dropped     atomic.Int64
	lastDropLog atomic.Int64 // unix nanos
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
	return &EventSink{writer: w, clock: clock, log: log, queue: make(chan *api.Event, sinkBuffer), recent: map[string]*trackedEvent{}}
}

// Recorder returns a recorder whose events name component as their source
// ("deployment-controller").
func (s *EventSink) Recorder(component string) Recorder {
	return &recorder{sink: s, component: component}
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
		select {
		case <-ctx.Done():
			return
		case ev := <-s.queue:
			if err := s.write(ctx, ev); err != nil && ctx.Err() == nil {
				s.log.Warn("could not record event", "reason", ev.Reason, "object", ev.InvolvedObject.Name, "err", err)
			}
		}
	}
}

// write creates ev or, for a repeat within the window, bumps the count of
// the Event already written.
func (s *EventSink) write(ctx context.Context, ev *api.Event) error {
	key := aggregateKey(ev)
	now := ev.LastTimestamp
	s.mu.Lock()
	prev := s.recent[key]
	s.mu.Unlock()
	if prev != nil && now.Sub(prev.last) <= aggregateWindow {
		err := s.writer.patch(ctx, prev.namespace, prev.name, prev.count+1, now)
		if err == nil {
			s.mu.Lock()
			prev.count++
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
		s.evictLocked(now)
	}
	s.recent[key] = &trackedEvent{namespace: created.Namespace, name: created.Name, count: ev.Count, last: now}
	return nil
}

// evictLocked forgets events past the window, or everything if all are
// recent (a burst of distinct events; aggregation is best effort).
func (s *EventSink) evictLocked(now time.Time) {
	for k, t := range s.recent {
		if now.Sub(t.last) > aggregateWindow {
			delete(s.recent, k)
		}
	}
	if len(s.recent) >= maxTracked {
		clear(s.recent)
	}
}

func aggregateKey(ev *api.Event) string {
	o := ev.InvolvedObject
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", ev.Source.Component, o.Kind, o.Namespace, o.Name, o.UID, ev.Type, ev.Reason, ev.Message)
}

type recorder struct {
	sink      *EventSink
	component string
}

func (r *recorder) Eventf(obj api.Object, eventType, reason, format string, args ...any) {
	r.Event(obj, eventType, reason, fmt.Sprintf(format, args...))
}

func (r *recorder) Event(obj api.Object, eventType, reason, message string) {
	ev := newEvent(obj, eventType, reason, message, r.component, r.sink.clock.Now())
	select {
	case r.sink.queue <- ev:
	default:
		r.sink.drop()
	}
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
func newEvent(obj api.Object, eventType, reason, message, component string, now time.Time) *api.Event {
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
		Source:         api.EventSource{Component: component},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
		Type:           eventType,
	}
}
