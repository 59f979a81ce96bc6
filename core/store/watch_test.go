package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

// nextEvent waits for one event; a closed channel or a silent watch fails.
func nextEvent(t testing.TB, w Watcher) Event {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch channel closed, want an event")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return Event{}
}

// expectClosed fails unless the watch channel is closed (after any events).
func expectClosed(t testing.TB, w Watcher) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				return
			}
			t.Errorf("event %s after the watch should have ended", e.Type)
		case <-timeout:
			t.Fatal("watch channel still open after 10s")
		}
	}
}

func expectEvent(t testing.TB, w Watcher, typ EventType, key string, rev int64) Event {
	t.Helper()
	e := nextEvent(t, w)
	if e.Type != typ || e.Object == nil || e.Object.GetObjectMeta().Key() != key || e.Revision != rev || e.Object.GetObjectMeta().ResourceVersion != fmt.Sprint(rev) {
		got := "<nil>"
		if e.Object != nil {
			got = e.Object.GetObjectMeta().Key() + "@" + e.Object.GetObjectMeta().ResourceVersion
		}
		t.Fatalf("event %s %s rev %d (err %v), want %s %s at %d", e.Type, got, e.Revision, e.Err, typ, key, rev)
	}
	return e
}

func TestWatchOrder(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	w, err := s.Watch(ctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Written right after Watch returns, and in a namespace sharing the prefix.
	created := mustCreate(t, ctx, s, configMap("default", "web", nil, map[string]string{"k": "1"}))
	mustCreate(t, ctx, s, configMap("defaultx", "other", nil, nil))
	upd := api.DeepCopy(created).(*api.ConfigMap)
	upd.Data["k"] = "2"
	updated, err := s.Update(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := s.Delete(ctx, cms, "default", "web", DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}

	expectEvent(t, w, Added, "default/web", rv(t, created))
	if e := expectEvent(t, w, Modified, "default/web", rv(t, updated)); e.Object.(*api.ConfigMap).Data["k"] != "2" {
		t.Errorf("modified event carries %v", e.Object.(*api.ConfigMap).Data)
	}
	if e := expectEvent(t, w, Deleted, "default/web", rv(t, deleted)); e.Object.(*api.ConfigMap).Data["k"] != "2" {
		t.Errorf("deleted event carries %v, want the last state", e.Object.(*api.ConfigMap).Data)
	}
	select {
	case e := <-w.ResultChan():
		t.Errorf("unexpected event %s %v", e.Type, e.Object.GetObjectMeta().Key())
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWatchFinalizedDeletion(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	cm := configMap("default", "guarded", nil, nil)
	cm.Finalizers = []string{"skiff.sh/cleanup"}
	mustCreate(t, ctx, s, cm)
	w, err := s.Watch(ctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	marked, err := s.Delete(ctx, cms, "default", "guarded", DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	final, err := s.GuaranteedUpdate(ctx, cms, "default", "guarded", func(obj api.Object) error {
		obj.GetObjectMeta().Finalizers = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, Modified, "default/guarded", rv(t, marked))
	cleared := nextEvent(t, w)
	if cleared.Type != Modified || len(cleared.Object.GetObjectMeta().Finalizers) != 0 {
		t.Fatalf("want the write clearing the finalizers, got %s", cleared.Type)
	}
	if e := expectEvent(t, w, Deleted, "default/guarded", rv(t, final)); e.Object.GetObjectMeta().DeletionTimestamp == nil || len(e.Object.GetObjectMeta().Finalizers) != 0 {
		t.Errorf("deleted event: want the final state, got %+v", e.Object.GetObjectMeta())
	}
}

func TestWatchResumeMissesNothing(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	revs := make([]int64, 100)
	for i := range revs {
		revs[i] = rv(t, mustCreate(t, ctx, s, configMap("default", fmt.Sprintf("cm-%03d", i), nil, nil)))
	}
	w, err := s.Watch(ctx, cms, "", revs[49])
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for i := 50; i < 100; i++ {
		expectEvent(t, w, Added, fmt.Sprintf("default/cm-%03d", i), revs[i])
	}
	select {
	case e := <-w.ResultChan():
		t.Errorf("event past the last write: %s", e.Type)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWatchCompactedIsGone(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	first := mustCreate(t, ctx, s, configMap("default", "a", nil, nil))
	mustCreate(t, ctx, s, configMap("default", "b", nil, nil))
	compacted := compact(t, ctx)

	w, err := s.Watch(ctx, cms, "default", rv(t, first)-1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	e := nextEvent(t, w)
	if e.Type != Error || !api.IsGone(e.Err) {
		t.Fatalf("event %s (err %v), want an Error event for which api.IsGone holds", e.Type, e.Err)
	}
	wantMsg := fmt.Sprintf("too old resource version: %d (current ", rv(t, first)-1)
	if !strings.Contains(e.Err.Error(), wantMsg) || !strings.Contains(e.Err.Error(), "re-list") {
		t.Errorf("message %q, want it to start with %q and say to re-list", e.Err, wantMsg)
	}
	expectClosed(t, w)

	// From the compaction revision on, a watch works again.
	w2, err := s.Watch(ctx, cms, "default", compacted)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	c := mustCreate(t, ctx, s, configMap("default", "c", nil, nil))
	expectEvent(t, w2, Added, "default/c", rv(t, c))
}

func TestWatchBookmark(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	w, err := s.Watch(ctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// A write elsewhere moves the revision without an event for this watch.
	other := mustCreate(t, ctx, s, configMap("elsewhere", "x", nil, nil))
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The etcd client keys watch streams by context metadata: ask on
		// the stream of the store's watches, which require a leader.
		if err := testEtcd.Client().RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-w.ResultChan():
			if e.Type != Bookmark {
				t.Fatalf("event %s, want %s", e.Type, Bookmark)
			}
			if e.Revision >= rv(t, other) {
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bookmark at or past revision %d", rv(t, other))
		}
	}
}

func TestWatchStopReleasesEverything(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	settle := func() int {
		// The etcd client tears a watch stream down asynchronously.
		var n int
		for range 50 {
			runtime.GC()
			n = runtime.NumGoroutine()
			time.Sleep(20 * time.Millisecond)
			if runtime.NumGoroutine() == n {
				break
			}
		}
		return n
	}
	warm, err := s.Watch(ctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	warm.Stop()
	baseline := settle()

	watchers := make([]Watcher, 50)
	for i := range watchers {
		if watchers[i], err = s.Watch(ctx, cms, "default", 0); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, ctx, s, configMap("default", "x", nil, nil)) // unread events must not block Stop
	for _, w := range watchers {
		w.Stop()
		for range w.ResultChan() { // closed by Stop: drains the buffer, then ends
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for settle() > baseline+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after stopping every watch, %d before", runtime.NumGoroutine(), baseline)
		}
	}

	// Cancelling the context and closing the store end watches too.
	wctx, cancel := context.WithCancel(ctx)
	byContext, err := s.Watch(wctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	expectClosed(t, byContext)
	byClose, err := s.Watch(ctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	expectClosed(t, byClose)
}
