package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
)

// WatchOptions choose where a watch starts and what it sees.
type WatchOptions struct {
	// ResourceVersion starts the watch after that revision ("" = from now).
	// A revision older than the server keeps gives an ERROR event with a
	// Gone status: re-list.
	ResourceVersion string
	LabelSelector   string
	FieldSelector   string
	// AllowBookmarks asks for BOOKMARK events, which carry only a newer
	// resourceVersion so a restarted watch can resume from it.
	AllowBookmarks bool
}

// EventType is the type of a watch event, shared with the store and the
// API server (api.WatchEventType); the names below are api's WatchAdded
// and the rest, for the client's users.
type EventType = api.WatchEventType

const (
	Added    = api.WatchAdded
	Modified = api.WatchModified
	Deleted  = api.WatchDeleted
	Bookmark = api.WatchBookmark
	Error    = api.WatchError
)

// Event is one watch event. Object is set for every type but ERROR, which
// carries Status instead.
type Event struct {
	Type   EventType
	Object api.Object
	Status *api.Status
}

// Watcher delivers a watch's events until Stop, the context's end or the
// stream's end; then ResultChan is closed and Err says why it ended.
type Watcher struct {
	events chan Event
	cancel context.CancelFunc
	body   io.Closer
	mu     sync.Mutex
	err    error
}

// ResultChan delivers the events.
func (w *Watcher) ResultChan() <-chan Event { return w.events }

// Stop ends the watch and closes ResultChan; safe to call more than once.
func (w *Watcher) Stop() {
	w.cancel()
	w.body.Close()
}

// Err is why the stream ended: nil after Stop or a clean close by the server
// (its watch timeout), else the read or decode error.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Watch opens a stream of changes to res in namespace ("" = all namespaces).
func (c *Client) Watch(ctx context.Context, res *api.Resource, namespace string, opts WatchOptions) (*Watcher, error) {
	q := url.Values{"watch": {"true"}}
	setIf(q, "resourceVersion", opts.ResourceVersion)
	setIf(q, "labelSelector", opts.LabelSelector)
	setIf(q, "fieldSelector", opts.FieldSelector)
	if opts.AllowBookmarks {
		q.Set("allowWatchBookmarks", "true")
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, _, err := c.do(ctx, request{method: http.MethodGet, path: ResourcePath(res, namespace, "", ""), query: q, stream: true})
	if err != nil {
		cancel()
		return nil, err
	}
	w := &Watcher{events: make(chan Event), cancel: cancel, body: resp.Body}
	go w.receive(ctx, res, resp.Body)
	return w, nil
}

// wireEvent is an event as the server writes it, one JSON object per line.
type wireEvent struct {
	Type   EventType       `json:"type"`
	Object json.RawMessage `json:"object"`
	// line is the whole line when the event was split by hand, to read
	// again with encoding/json should the split have been fooled.
	line []byte
}

func (w *Watcher) receive(ctx context.Context, res *api.Resource, body io.ReadCloser) {
	defer close(w.events)
	defer body.Close()
	r := newEventReader(body)
	readErr := func(err error) {
		if ctx.Err() == nil && !errors.Is(err, io.EOF) {
			w.setErr(fmt.Errorf("watch %s: read stream: %w", res.GroupResource(), err))
		}
	}
	for {
		we, err := r.next()
		if err != nil {
			readErr(err)
			return
		}
		ev, err := decodeEvent(res, we)
		if err != nil && we.line != nil {
			if we, err = r.reread(we.line); err != nil {
				readErr(err)
				return
			}
			ev, err = decodeEvent(res, we)
		}
		if err != nil {
			w.setErr(err)
			return
		}
		select {
		case w.events <- ev:
		case <-ctx.Done():
			return
		}
	}
}

func decodeEvent(res *api.Resource, we wireEvent) (Event, error) {
	switch we.Type {
	case Added, Modified, Deleted, Bookmark:
		obj := res.NewObject()
		if err := json.Unmarshal(we.Object, obj); err != nil {
			return Event{}, fmt.Errorf("watch %s: decode %s event: %w", res.GroupResource(), we.Type, err)
		}
		return Event{Type: we.Type, Object: withTypeMeta(res, obj)}, nil
	case Error:
		var st api.Status
		if err := json.Unmarshal(we.Object, &st); err != nil {
			return Event{}, fmt.Errorf("watch %s: decode ERROR event: %w", res.GroupResource(), err)
		}
		return Event{Type: we.Type, Status: &st}, nil
	}
	return Event{}, fmt.Errorf("watch %s: unknown event type %q", res.GroupResource(), we.Type)
}

func (w *Watcher) setErr(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}
