package store

import (
	"context"
	"errors"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

// watchBuffer is how many decoded events a watch holds for a slow reader
// before it stops reading from etcd.
const watchBuffer = 100

func (s *etcdStore) Watch(ctx context.Context, res *api.Resource, namespace string, fromRevision int64) (Watcher, error) {
	prefix, err := s.keys.listPrefix(res, namespace)
	if err != nil {
		return nil, err
	}
	if fromRevision < 0 {
		return nil, api.NewStatus(api.ReasonBadRequest, "watch %s: revision must be >= 0, got %d", res.GroupResource(), fromRevision)
	}
	if fromRevision == 0 {
		// "From now" means every change after Watch returns: pin the
		// current revision rather than wait for etcd to start the watch.
		if fromRevision, err = s.Revision(ctx); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.closed, cancel)
	w := &etcdWatcher{
		res:            res,
		resourcePrefix: s.keys.resourcePrefix(res),
		from:           fromRevision,
		out:            make(chan Event, watchBuffer),
		done:           make(chan struct{}),
		ctx:            wctx,
		cancel:         cancel,
	}
	// WithRequireLeader ends the watch on a member cut off from the
	// cluster instead of leaving it silently stalled.
	wch := s.cli.Watch(clientv3.WithRequireLeader(wctx), prefix,
		clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithProgressNotify(),
		clientv3.WithRev(fromRevision+1))
	go func() {
		defer stopOnClose()
		w.run(wch)
	}()
	return w, nil
}

// etcdWatcher turns one etcd watch into store events, decoding each object
// once.
type etcdWatcher struct {
	res            *api.Resource
	resourcePrefix string
	from           int64
	out            chan Event
	done           chan struct{}
	ctx            context.Context
	cancel         context.CancelFunc
}

func (w *etcdWatcher) ResultChan() <-chan Event { return w.out }

// Stop ends the watch; ResultChan is closed when Stop returns.
func (w *etcdWatcher) Stop() {
	w.cancel()
	<-w.done
}

func (w *etcdWatcher) run(wch clientv3.WatchChan) {
	defer close(w.done)
	defer close(w.out)
	// Cancelling releases the etcd client's watch stream for this watch.
	defer w.cancel()
	for resp := range wch {
		if resp.CompactRevision > 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			current := resp.Header.GetRevision()
			if current == 0 {
				current = resp.CompactRevision
			}
			w.send(Event{Type: Error, Err: api.NewStatus(api.ReasonGone,
				"too old resource version: %d (current %d); re-list and watch from the list's revision", w.from, current)})
			return
		}
		if err := resp.Err(); err != nil {
			w.send(Event{Type: Error, Err: etcdError(err, "store: watch %s from revision %d", w.res.GroupResource(), w.from)})
			return
		}
		if resp.IsProgressNotify() {
			if !w.send(Event{Type: Bookmark, Revision: resp.Header.Revision}) {
				return
			}
			continue
		}
		for _, ev := range resp.Events {
			event, err := w.convert(ev)
			if err != nil {
				w.send(Event{Type: Error, Err: err})
				return
			}
			if !w.send(event) {
				return
			}
		}
	}
}

// send delivers e unless the watch was stopped; it reports whether to go on.
func (w *etcdWatcher) send(e Event) bool {
	select {
	case w.out <- e:
		return true
	case <-w.ctx.Done():
		return false
	}
}

func (w *etcdWatcher) convert(ev *clientv3.Event) (Event, error) {
	kv := ev.Kv
	if ev.Type == clientv3.EventTypeDelete {
		if ev.PrevKv == nil {
			// etcd lost the last state (compacted under the watch): the
			// identity from the key is all there is to report.
			obj := w.res.NewObject()
			meta := obj.GetObjectMeta()
			rel := strings.TrimPrefix(string(kv.Key), w.resourcePrefix)
			if ns, name, ok := strings.Cut(rel, "/"); ok {
				meta.Namespace, meta.Name = ns, name
			} else {
				meta.Name = rel
			}
			setRevision(obj, kv.ModRevision)
			return Event{Type: Deleted, Object: obj, Revision: kv.ModRevision}, nil
		}
		// The last state, stamped with the deletion's revision.
		obj, err := decode(w.res, ev.PrevKv.Key, ev.PrevKv.Value, kv.ModRevision)
		return Event{Type: Deleted, Object: obj, Revision: kv.ModRevision}, err
	}
	obj, err := decodeKV(w.res, kv)
	if err != nil {
		return Event{}, err
	}
	typ := Modified
	if ev.IsCreate() || ev.PrevKv == nil {
		typ = Added
	}
	return Event{Type: typ, Object: obj, Revision: kv.ModRevision}, nil
}
