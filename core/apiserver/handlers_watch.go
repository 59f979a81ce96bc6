package apiserver

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// watchFilter selects the events one watcher receives.
type watchFilter struct {
	namespace string
	labels    api.Selector
	fields    func(api.Object) bool
}

func (f *watchFilter) matches(obj api.Object) bool {
	if f == nil {
		return true
	}
	meta := obj.GetObjectMeta()
	if f.namespace != "" && meta.Namespace != f.namespace {
		return false
	}
	if f.labels != nil && !f.labels.Matches(meta.Labels) {
		return false
	}
	return f.fields == nil || f.fields(obj)
}

var (
	prefixAdded    = []byte(`{"type":"ADDED","object":`)
	prefixModified = []byte(`{"type":"MODIFIED","object":`)
	prefixDeleted  = []byte(`{"type":"DELETED","object":`)
	prefixError    = []byte(`{"type":"ERROR","object":`)
	eventSuffix    = []byte("}\n")
)

// watchStream is the writing side of one HTTP watch.
type watchStream struct {
	res        *api.Resource
	filter     *watchFilter
	out        *bufio.Writer
	lastRV     int64 // newest revision this watcher has processed
	bookmarked int64
	written    int
}

// write sends ev if it concerns this watcher, translating a change that
// moves an object into or out of the selector into ADDED or DELETED.
func (ws *watchStream) write(ev *cacheEvent) error {
	if ev.rev > ws.lastRV {
		ws.lastRV = ev.rev
	}
	var prefix, body []byte
	switch ev.typ {
	case store.Bookmark:
		return nil
	case store.Added:
		if !ws.filter.matches(ev.obj) {
			return nil
		}
		prefix, body = prefixAdded, ev.json
	case store.Deleted:
		if !ws.filter.matches(ev.obj) {
			return nil
		}
		prefix, body = prefixDeleted, ev.json
	default:
		now := ws.filter.matches(ev.obj)
		before := ev.prev != nil && ws.filter.matches(ev.prev)
		switch {
		case now && before:
			prefix, body = prefixModified, ev.json
		case now:
			prefix, body = prefixAdded, ev.json
		case before:
			prefix, body = prefixDeleted, ev.leftSelectorJSON()
		default:
			return nil
		}
	}
	ws.out.Write(prefix)
	ws.out.Write(body)
	_, err := ws.out.Write(eventSuffix)
	ws.written++
	return err
}

func (ws *watchStream) bookmark() error {
	if ws.lastRV == ws.bookmarked {
		return nil
	}
	ws.bookmarked = ws.lastRV
	_, err := ws.out.WriteString(`{"type":"BOOKMARK","object":{"kind":"` + ws.res.Kind + `","apiVersion":"` + ws.res.APIVersion() +
		`","metadata":{"resourceVersion":"` + strconv.FormatInt(ws.lastRV, 10) + `"}}}` + "\n")
	return err
}

func writeErrorEvent(out *bufio.Writer, st *api.Status) {
	data, _ := json.Marshal(st)
	out.Write(prefixError)
	out.Write(data)
	out.Write(eventSuffix)
}

// watchParams are the query parameters of a watch request.
type watchParams struct {
	fromRV    int64
	withState bool // resourceVersion unset: current objects first
	bookmarks bool
	timeout   time.Duration
}

func parseWatchParams(r *http.Request) (watchParams, error) {
	q := r.URL.Query()
	p := watchParams{bookmarks: q.Get("allowWatchBookmarks") == "true"}
	switch rv := q.Get("resourceVersion"); rv {
	case "":
		p.withState = true
	case "0":
	default:
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n < 0 {
			return p, badRequest("resourceVersion: must be a non-negative integer, got %q", rv)
		}
		p.fromRV = n
	}
	// As in Kubernetes, an unset timeout is spread over 30-60 minutes so
	// that reconnects of many clients do not all land at once.
	p.timeout = 30*time.Minute + rand.N(30*time.Minute)
	if s := q.Get("timeoutSeconds"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return p, badRequest("timeoutSeconds: must be a positive integer, got %q", s)
		}
		p.timeout = time.Duration(n) * time.Second
	}
	return p, nil
}

// serveWatch streams events, one JSON object per line, flushing whenever no
// further event is immediately pending (so a burst goes out in one write,
// and a lone event goes out at once).
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	params, err := parseWatchParams(r)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	filter, err := listFilter(r, ri)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	cache := s.cacheFor(ri.res)
	watcher, initial, err := cache.subscribe(r.Context(), params.fromRV, params.withState, filter, s.cfg.WatchBuffer)
	if err != nil && !api.IsGone(err) {
		writeStatus(w, r, err)
		return
	}
	gauge := s.metrics.watchers.WithLabelValues(ri.res.GroupResource())
	gauge.Inc()
	defer gauge.Dec()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 32<<10)
	flusher, _ := w.(http.Flusher)
	flush := func() bool {
		if out.Flush() != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	if err != nil { // too old: Kubernetes reports it as an ERROR event
		writeErrorEvent(out, toStatus(err))
		flush()
		return
	}
	defer cache.unsubscribe(watcher)

	ws := &watchStream{res: ri.res, filter: filter, out: out, lastRV: watcher.fromRV, bookmarked: watcher.fromRV}
	events := s.metrics.watchEvents.WithLabelValues(ri.res.GroupResource())
	for _, ev := range initial {
		ws.write(ev)
	}
	events.Add(float64(ws.written))
	ws.written = 0
	if !flush() {
		return
	}
	timeout := time.NewTimer(params.timeout)
	defer timeout.Stop()
	var tick <-chan time.Time
	if params.bookmarks {
		t := time.NewTicker(s.cfg.BookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case ev, ok := <-watcher.events:
			if !ok {
				flush()
				return
			}
			if ev.rev > watcher.fromRV {
				ws.write(ev)
			}
		drain:
			for range len(watcher.events) {
				select {
				case ev, ok := <-watcher.events:
					if !ok {
						break drain
					}
					if ev.rev > watcher.fromRV {
						ws.write(ev)
					}
				default:
					break drain
				}
			}
			events.Add(float64(ws.written))
			ws.written = 0
			if !flush() {
				return
			}
		case <-tick:
			ws.bookmark()
			if !flush() {
				return
			}
		case <-timeout.C:
			flush()
			return
		case <-r.Context().Done():
			return
		}
	}
}
