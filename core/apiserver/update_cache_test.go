package apiserver

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// frozenWatchStore serves the initial list but no watch event, so the watch
// cache keeps what it listed while the store moves on.
type frozenWatchStore struct{ store.Store }

func (f frozenWatchStore) Watch(ctx context.Context, _ *api.Resource, _ string, _ int64) (store.Watcher, error) {
	w := &frozenWatcher{events: make(chan store.Event), stop: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
		case <-w.stop:
		}
		close(w.events)
	}()
	return w, nil
}

type frozenWatcher struct {
	events chan store.Event
	stop   chan struct{}
}

func (w *frozenWatcher) ResultChan() <-chan store.Event { return w.events }
func (w *frozenWatcher) Stop()                          { close(w.stop) }

// Updates start from the watch cache's copy of the object; when the cache
// is behind the store, they must still be decided against the store.
func TestUpdatesAreRightWhenTheWatchCacheLags(t *testing.T) {
	var st store.Store
	ts := newTestServer(t, func(c *Config) {
		st = c.Store
		c.Store = frozenWatchStore{c.Store}
		// The pod exists before the server starts, so the cache lists it.
		p := pod("web", "", nil)
		p.Namespace = "default"
		api.SetDefaults(p)
		if _, err := st.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	})
	path := "/api/v1/namespaces/default/pods/web"
	cachedRV := decode[api.Pod](t, ts.must(200, "GET", path, nil)).ResourceVersion
	// Someone else writes: the cache does not see it.
	changed, err := st.GuaranteedUpdate(context.Background(), ts.resource("Pod"), "default", "web", func(o api.Object) error {
		o.GetObjectMeta().Labels = map[string]string{"written": "behind-the-cache"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A status write without a resourceVersion keeps the other writer's label.
	status := decode[api.Pod](t, ts.must(200, "GET", path, nil))
	status.ResourceVersion = ""
	status.Status.Phase = api.PodRunning
	out := decode[api.Pod](t, ts.must(200, "PUT", path+"/status", status))
	if out.Labels["written"] != "behind-the-cache" || out.Status.Phase != api.PodRunning {
		t.Fatalf("status update from a stale cache: labels %v phase %q; want the store's labels kept and Running", out.Labels, out.Status.Phase)
	}

	// Pinned to the store's revision (newer than the cache's): accepted.
	cur := decode[api.Pod](t, ts.must(200, "GET", path, nil))
	cur.Labels["pinned"] = "yes"
	out = decode[api.Pod](t, ts.must(200, "PUT", path, cur))
	if out.Labels["pinned"] != "yes" {
		t.Fatalf("pinned update: labels %v", out.Labels)
	}
	// Pinned to the revision the cache still holds, long outdated: 409.
	cur.ResourceVersion = cachedRV
	code, body := ts.do("PUT", path, "", mustJSON(t, cur))
	expectStatus(t, code, body, 409, api.ReasonConflict)

	// The cache still shows the pod unbound; the store knows better.
	if _, err := st.GuaranteedUpdate(context.Background(), ts.resource("Pod"), "default", "web", func(o api.Object) error {
		o.(*api.Pod).Spec.NodeName = "node-a"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	binding := `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":{"kind":"Node","name":"node-b"}}`
	code, body = ts.do("POST", path+"/binding", "", []byte(binding))
	expectStatus(t, code, body, 409, api.ReasonConflict)
	if got := decode[api.Pod](t, ts.must(200, "GET", path, nil)); got.Spec.NodeName != "node-a" {
		t.Fatalf("binding from a stale cache moved the pod to %q", got.Spec.NodeName)
	}
	if changed.GetObjectMeta().ResourceVersion == cachedRV {
		t.Fatal("the store write did not move the revision; the test proves nothing")
	}
}

func (ts *testServer) resource(kind string) *api.Resource {
	res, ok := api.ResourceForKind(kind)
	if !ok {
		ts.t.Fatalf("no resource for kind %s", kind)
	}
	return res
}
