package client

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// ListWatchHandler receives what a ListWatch sees. Calls are sequential.
type ListWatchHandler interface {
	// OnSync gets the complete current set after every (re)list. After a
	// re-list the handler must treat objects absent from items as deleted:
	// their DELETED events may have been missed.
	OnSync(items []api.Object)
	// OnEvent gets each ADDED, MODIFIED and DELETED event after a sync.
	OnEvent(typ EventType, obj api.Object)
}

// ListWatchErrorHandler is an optional capability of a handler: it is told
// about each failed list or watch before the retry.
type ListWatchErrorHandler interface {
	OnError(err error)
}

// ListWatchOptions narrow what a ListWatch sees and tune its retries.
type ListWatchOptions struct {
	LabelSelector string
	FieldSelector string
	// PageSize is the list page size (default 500) so a big collection
	// never comes back in one huge response.
	PageSize int64
	// MinBackoff and MaxBackoff bound the wait before a retry after an
	// error (defaults 200ms and 30s); the wait doubles per failure, with
	// jitter, and resets after a successful list or a healthy watch.
	MinBackoff, MaxBackoff time.Duration
}

// ListWatch lists a collection, then watches it from the list's
// resourceVersion; when a watch ends it re-watches from the last revision
// seen (bookmarks advance it too), and when that revision is too old (410
// Gone) it re-lists and reports a full resync. It is the base of informers.
type ListWatch struct {
	client    *Client
	res       *api.Resource
	namespace string
	opts      ListWatchOptions
	handler   ListWatchHandler
	backoff   time.Duration
}

// healthyWatch is how long a watch must have lasted for its end not to count
// as a failure (servers end watches on a timeout; that is normal).
const healthyWatch = 10 * time.Second

// NewListWatch prepares a ListWatch of res in namespace ("" = all).
func NewListWatch(c *Client, res *api.Resource, namespace string, opts ListWatchOptions, handler ListWatchHandler) *ListWatch {
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	return &ListWatch{client: c, res: res, namespace: namespace, opts: opts, handler: handler}
}

// Run lists and watches until ctx ends, then returns ctx.Err().
func (lw *ListWatch) Run(ctx context.Context) error {
	for {
		rv, err := lw.list(ctx)
		if err != nil {
			if !lw.fail(ctx, err) {
				return ctx.Err()
			}
			continue
		}
		lw.backoff = 0
		// Watch until the revision is too old, then re-list.
		for {
			next, gone, err := lw.watch(ctx, rv)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rv = next
			if gone {
				break
			}
			if err != nil && !lw.fail(ctx, err) {
				return ctx.Err()
			}
		}
	}
}

// list reads every page and hands the whole set to OnSync.
func (lw *ListWatch) list(ctx context.Context) (string, error) {
	var items []api.Object
	opts := ListOptions{LabelSelector: lw.opts.LabelSelector, FieldSelector: lw.opts.FieldSelector, Limit: lw.opts.PageSize}
	rv := ""
	for {
		page, err := lw.client.List(ctx, lw.res, lw.namespace, opts)
		if err != nil {
			return "", err
		}
		if rv == "" {
			// Later pages are served at the first page's revision.
			rv = page.ResourceVersion
		}
		items = append(items, page.Items...)
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	lw.handler.OnSync(items)
	return rv, nil
}

// watch runs one watch from rv. It returns the last revision seen, whether
// the server said that revision is gone, and the error that ended the watch
// early (nil for a healthy watch that the server closed).
func (lw *ListWatch) watch(ctx context.Context, rv string) (string, bool, error) {
	started := time.Now()
	w, err := lw.client.Watch(ctx, lw.res, lw.namespace, WatchOptions{
		ResourceVersion: rv, LabelSelector: lw.opts.LabelSelector, FieldSelector: lw.opts.FieldSelector, AllowBookmarks: true,
	})
	if err != nil {
		return rv, api.IsGone(err), err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case Error:
			if ev.Status.Reason == api.ReasonGone || ev.Status.Code == 410 {
				return rv, true, nil
			}
			return rv, false, ev.Status
		case Bookmark:
		default:
			lw.handler.OnEvent(ev.Type, ev.Object)
		}
		if v := ev.Object.GetObjectMeta().ResourceVersion; v != "" {
			rv = v
		}
		lw.backoff = 0
	}
	if err := w.Err(); err != nil {
		return rv, false, err
	}
	if time.Since(started) < healthyWatch {
		// A watch the server closes at once is a failure in disguise; back
		// off so it cannot become a tight loop.
		return rv, false, errShortWatch
	}
	return rv, false, nil
}

var errShortWatch = &api.Status{Status: "Failure", Reason: api.ReasonServiceUnavailable, Message: "the server closed the watch right after opening it"}

// fail reports err and sleeps the backoff; false means ctx ended.
func (lw *ListWatch) fail(ctx context.Context, err error) bool {
	if eh, ok := lw.handler.(ListWatchErrorHandler); ok {
		eh.OnError(err)
	}
	if lw.backoff == 0 {
		lw.backoff = lw.opts.MinBackoff
	} else {
		lw.backoff = min(2*lw.backoff, lw.opts.MaxBackoff)
	}
	// Jitter in [backoff/2, backoff) spreads reconnects of many clients.
	wait := lw.backoff/2 + rand.N(lw.backoff/2+1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
