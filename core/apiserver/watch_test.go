package apiserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// watchEvent is one decoded line of a watch stream.
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e watchEvent) meta(t *testing.T) api.ObjectMeta {
	var o struct {
		Metadata api.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(e.Object, &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata
}

// testWatch reads a watch stream line by line.
type testWatch struct {
	t      *testing.T
	resp   *http.Response
	events chan watchEvent
}

func (ts *testServer) watch(path string) *testWatch {
	ts.t.Helper()
	resp := ts.send("GET", path, "", nil, ts.token)
	if resp.StatusCode != 200 {
		ts.t.Fatalf("watch %s: %d %s", path, resp.StatusCode, readAll(ts.t, resp))
	}
	w := &testWatch{t: ts.t, resp: resp, events: make(chan watchEvent, 1000)}
	go func() {
		defer close(w.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			var ev watchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				w.events <- watchEvent{Type: "UNPARSEABLE " + err.Error() + ": " + sc.Text()}
				return
			}
			w.events <- ev
		}
	}()
	ts.t.Cleanup(func() { resp.Body.Close() })
	return w
}

// next returns the next non-bookmark event, failing after 10 s.
func (w *testWatch) next() watchEvent {
	w.t.Helper()
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				w.t.Fatal("watch stream ended")
			}
			if ev.Type != "BOOKMARK" {
				return ev
			}
		case <-time.After(10 * time.Second):
			w.t.Fatal("no watch event within 10s")
		}
	}
}

// expect reads the next events and checks their "TYPE name" sequence.
func (w *testWatch) expect(want ...string) {
	w.t.Helper()
	for i, wantEv := range want {
		ev := w.next()
		if got := ev.Type + " " + ev.meta(w.t).Name; got != wantEv {
			w.t.Fatalf("event %d: got %q, want %q", i, got, wantEv)
		}
	}
}

// quiet asserts no non-bookmark event arrives for a moment.
func (w *testWatch) quiet() {
	w.t.Helper()
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case ev, ok := <-w.events:
			if ok && ev.Type == "BOOKMARK" {
				continue
			}
			if ok {
				w.t.Fatalf("unexpected event %s %s", ev.Type, ev.meta(w.t).Name)
			}
			return
		case <-deadline:
			return
		}
	}
}

func TestWatchOrderAndTypes(t *testing.T) {
	ts := newTestServer(t)
	ts.must(201, "POST", cmPath, configMap("existing", nil, nil))

	// resourceVersion unset: current objects first, as ADDED.
	all := ts.watch(cmPath + "?watch=true")
	all.expect("ADDED existing")
	// resourceVersion=0: from now, no initial state.
	fromNow := ts.watch(cmPath + "?watch=true&resourceVersion=0")

	ts.must(201, "POST", cmPath, configMap("a", nil, nil))
	a := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("b", nil, nil)))
	a.Data = map[string]string{"k": "v"}
	ts.must(200, "PUT", cmPath+"/b", a)
	ts.must(200, "DELETE", cmPath+"/a", nil)
	for _, w := range []*testWatch{all, fromNow} {
		w.expect("ADDED a", "ADDED b", "MODIFIED b", "DELETED a")
	}
	fromNow.quiet()

	metrics := string(ts.must(200, "GET", "/metrics", nil))
	if !strings.Contains(metrics, `skiff_apiserver_watchers{resource="configmaps"} 2`) {
		t.Fatalf("/metrics does not count 2 configmap watchers")
	}
}

func TestWatchResumeMissesNothing(t *testing.T) {
	ts := newTestServer(t)
	var revs []string
	for i := range 5 {
		cm := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap(fmt.Sprintf("c%d", i), nil, nil)))
		revs = append(revs, cm.ResourceVersion)
	}
	// Resuming from c1's revision replays exactly what followed it.
	w := ts.watch(cmPath + "?watch=true&resourceVersion=" + revs[1])
	w.expect("ADDED c2", "ADDED c3", "ADDED c4")
	w.quiet()

	// A list's resourceVersion is a valid starting point too.
	var list struct {
		Metadata api.ListMeta `json:"metadata"`
	}
	json.Unmarshal(ts.must(200, "GET", cmPath, nil), &list)
	ts.must(201, "POST", cmPath, configMap("after-list", nil, nil))
	w2 := ts.watch(cmPath + "?watch=true&resourceVersion=" + list.Metadata.ResourceVersion)
	w2.expect("ADDED after-list")
}

func TestWatchTooOldIsGone(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.WatchCacheSize = 3 })
	first := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("g0", nil, nil)))
	var last *api.ConfigMap
	for i := 1; i <= 4; i++ {
		last = decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap(fmt.Sprintf("g%d", i), nil, nil)))
	}
	// Wait until the cache has seen the last write: before that, its ring
	// still reaches back to g0.
	res, _ := api.ResourceForKind("ConfigMap")
	lastRV, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	for deadline := time.Now().Add(10 * time.Second); ts.cacheFor(res).currentRev() < lastRV; {
		if time.Now().After(deadline) {
			t.Fatal("watch cache did not catch up in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The ring holds 3 events; g1 has been evicted, so a watch from g0's
	// revision would miss it.
	w := ts.watch(cmPath + "?watch=true&resourceVersion=" + first.ResourceVersion)
	ev := w.next()
	if ev.Type != "ERROR" {
		t.Fatalf("got %s, want ERROR", ev.Type)
	}
	var st api.Status
	json.Unmarshal(ev.Object, &st)
	if st.Code != 410 || st.Reason != api.ReasonGone {
		t.Fatalf("ERROR event: %+v", st)
	}
	if _, ok := <-w.events; ok {
		t.Fatal("stream did not end after the ERROR event")
	}
	code, body := ts.do("GET", cmPath+"?watch=true&resourceVersion=abc", "", nil)
	expectStatus(t, code, body, 400, api.ReasonBadRequest)
}

func TestWatchSelectors(t *testing.T) {
	ts := newTestServer(t)
	podPath := "/api/v1/namespaces/default/pods"
	byLabel := ts.watch(podPath + "?watch=true&resourceVersion=0&labelSelector=app%3Dweb")
	byNode := ts.watch("/api/v1/pods?watch=true&resourceVersion=0&fieldSelector=spec.nodeName%3Dn1")

	ts.must(201, "POST", podPath, pod("web-1", "", map[string]string{"app": "web"}))
	ts.must(201, "POST", podPath, pod("db-1", "", map[string]string{"app": "db"}))
	// Binding db-1 moves it into byNode's selection: ADDED there.
	ts.must(201, "POST", podPath+"/db-1/binding", `{"target":{"kind":"Node","name":"n1"}}`)
	// Relabelling web-1 moves it out of byLabel's selection: DELETED there.
	ts.patch(200, podPath+"/web-1", "application/merge-patch+json", `{"metadata":{"labels":{"app":"other"}}}`)

	byLabel.expect("ADDED web-1", "DELETED web-1")
	byLabel.quiet()
	byNode.expect("ADDED db-1")
	byNode.quiet()

	// Watching one object by its path.
	one := ts.watch(podPath + "/db-1?watch=true")
	one.expect("ADDED db-1")
	ts.patch(200, podPath+"/web-1", "application/merge-patch+json", `{"metadata":{"labels":{"x":"y"}}}`)
	one.quiet()
}

func TestWatchBookmarksAndTimeout(t *testing.T) {
	ts := newTestServer(t)
	cm := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("b", nil, nil)))
	w := ts.watch(cmPath + "?watch=true&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=3")
	ts.must(201, "POST", cmPath, configMap("b2", nil, nil))
	deadline := time.After(5 * time.Second)
	var sawAdded, sawBookmark bool
	for !sawBookmark {
		select {
		case ev, ok := <-w.events:
			if !ok {
				t.Fatalf("stream ended before a bookmark (added seen: %v)", sawAdded)
			}
			switch ev.Type {
			case "ADDED":
				sawAdded = true
			case "BOOKMARK":
				rv, _ := strconv.ParseInt(ev.meta(t).ResourceVersion, 10, 64)
				base, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
				if rv <= base {
					t.Fatalf("bookmark at %d, not after the watch start %d", rv, base)
				}
				var obj struct{ Kind string }
				json.Unmarshal(ev.Object, &obj)
				if obj.Kind != "ConfigMap" {
					t.Fatalf("bookmark object kind %q", obj.Kind)
				}
				sawBookmark = true
			}
		case <-deadline:
			t.Fatal("no bookmark within 5s")
		}
	}
	// timeoutSeconds=3 ends the stream.
	select {
	case _, ok := <-w.events:
		for ok {
			_, ok = <-w.events
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch outlived timeoutSeconds")
	}
}
