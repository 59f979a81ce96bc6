package client

// Tests of wire-format handling that a real server cannot easily be made to
// produce on demand (refused connections, foreign CAs, proxy error pages,
// a 410 in the middle of a watch). Behaviour against the real API server is
// in integration_test.go.

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// fakeServer is a TLS server whose client trusts it.
func fakeServer(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := New(&Config{Server: srv.URL, CertificateAuthorityData: string(caPEM), Token: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnreachableServerSaysWhatToCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, err := New(&Config{Server: "https://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), ResourceOf[*api.Pod](), "default", "web")
	want := fmt.Sprintf("cannot reach the skiff API server at https://%s: connection refused; is skiffd running?", addr)
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestUntrustedCertificateIsNamed(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	c, err := New(&Config{Server: srv.URL}) // system roots do not trust httptest
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), ResourceOf[*api.Pod](), "default", "web")
	if err == nil || !strings.Contains(err.Error(), "cannot verify the skiff API server") || !strings.Contains(err.Error(), "certificate-authority-data") {
		t.Fatalf("error = %v, want a certificate verification message", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []*Config{nil, {Server: "127.0.0.1:6443"}, {Server: "https://x", CertificateAuthorityData: "not pem"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestErrorsDecodeIntoStatus(t *testing.T) {
	c := fakeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret-token" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		if strings.HasSuffix(r.URL.Path, "/proxied") {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>bad gateway</html>")
			return
		}
		res, _ := api.ResourceForKind("Deployment")
		st := api.NotFound(res, "web")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(st)
	}))
	_, err := Get[*api.Deployment](context.Background(), c, "default", "web")
	if !api.IsNotFound(err) || err.Error() != `deployments.apps "web" not found` {
		t.Fatalf("error = %#v, want NotFound status", err)
	}
	_, err = Get[*api.Deployment](context.Background(), c, "default", "proxied")
	var st *api.Status
	if !asStatusErr(err, &st) || st.Code != http.StatusBadGateway || !strings.Contains(st.Message, "bad gateway") {
		t.Fatalf("error = %#v, want a Status with code 502", err)
	}
}

func asStatusErr(err error, st **api.Status) bool {
	s, ok := err.(*api.Status)
	*st = s
	return ok
}

func TestResourcePaths(t *testing.T) {
	cases := []struct {
		kind, ns, name, sub, want string
	}{
		{"Pod", "default", "web", "", "/api/v1/namespaces/default/pods/web"},
		{"Pod", "default", "web", "binding", "/api/v1/namespaces/default/pods/web/binding"},
		{"Pod", "", "", "", "/api/v1/pods"},
		{"Deployment", "prod", "", "", "/apis/apps/v1/namespaces/prod/deployments"},
		{"Deployment", "prod", "web", "scale", "/apis/apps/v1/namespaces/prod/deployments/web/scale"},
		{"Node", "ignored", "n1", "status", "/api/v1/nodes/n1/status"},
		{"Lease", "kube", "l", "", "/apis/coordination.k8s.io/v1/namespaces/kube/leases/l"},
	}
	for _, tc := range cases {
		res, _ := api.ResourceForKind(tc.kind)
		if got := ResourcePath(res, tc.ns, tc.name, tc.sub); got != tc.want {
			t.Errorf("ResourcePath(%s, %q, %q, %q) = %s, want %s", tc.kind, tc.ns, tc.name, tc.sub, got, tc.want)
		}
	}
}

// watchScript serves one list and then, per watch request, the next script
// of events; it records the resourceVersion each watch asked for.
type watchScript struct {
	mu       sync.Mutex
	lists    int
	watches  [][]string // raw JSON lines per watch call
	watchRVs []string
}

func (s *watchScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if r.URL.Query().Get("watch") != "true" {
		defer s.mu.Unlock()
		s.lists++
		fmt.Fprintf(w, `{"kind":"PodList","metadata":{"resourceVersion":"%d"},"items":[{"metadata":{"name":"p%d","namespace":"default","resourceVersion":"%d"}}]}`, 10*s.lists, s.lists, 10*s.lists)
		return
	}
	s.watchRVs = append(s.watchRVs, r.URL.Query().Get("resourceVersion"))
	if len(s.watches) == 0 {
		s.mu.Unlock()
		<-r.Context().Done() // hold the last watch open until the client leaves
		return
	}
	defer s.mu.Unlock()
	if r.URL.Query().Get("allowWatchBookmarks") != "true" {
		http.Error(w, "bookmarks not requested", http.StatusBadRequest)
		return
	}
	lines := s.watches[0]
	s.watches = s.watches[1:]
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

type recordingHandler struct {
	mu     sync.Mutex
	syncs  [][]string
	events []string
	errs   []error
	done   chan struct{}
	want   int // events after which to signal done
}

func (h *recordingHandler) OnSync(items []api.Object) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, o := range items {
		names = append(names, o.GetObjectMeta().Name)
	}
	h.syncs = append(h.syncs, names)
}

func (h *recordingHandler) OnEvent(typ EventType, obj api.Object) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, string(typ)+" "+obj.GetObjectMeta().Name+"@"+obj.GetObjectMeta().ResourceVersion)
	if len(h.events) == h.want {
		close(h.done)
	}
}

func (h *recordingHandler) OnError(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
}

func TestListWatchResumesAndRelistsOnGone(t *testing.T) {
	script := &watchScript{watches: [][]string{
		// First watch: an event, a bookmark, then the stream ends early.
		{`{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}}`,
			`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"15"}}}`},
		// Second watch resumes from the bookmark and is told it is too old.
		{`{"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"Expired","code":410,"message":"too old resource version: 15"}}`},
		// After the re-list (rv 20) the third watch delivers a delete.
		{`{"type":"DELETED","object":{"metadata":{"name":"p2","resourceVersion":"21"}}}`},
	}}
	c := fakeServer(t, script)
	h := &recordingHandler{done: make(chan struct{}), want: 2}
	lw := NewListWatch(c, ResourceOf[*api.Pod](), "default", ListWatchOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- lw.Run(ctx) }()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("ListWatch did not deliver the events")
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	script.mu.Lock()
	defer script.mu.Unlock()
	if got := fmt.Sprint(h.syncs); got != "[[p1] [p2]]" {
		t.Errorf("syncs = %s, want a list then a re-list after Gone", got)
	}
	if got := fmt.Sprint(h.events); got != "[ADDED a@11 DELETED p2@21]" {
		t.Errorf("events = %s (bookmarks must not reach the handler)", got)
	}
	if got := fmt.Sprint(script.watchRVs[:3]); got != "[10 15 20]" {
		t.Errorf("watches started at %s, want list rv, bookmark rv, re-list rv", got)
	}
}

func TestWatchDeliversErrorStatus(t *testing.T) {
	c := fakeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"type":"MODIFIED","object":{"metadata":{"name":"web","namespace":"default","resourceVersion":"7"},"spec":{"replicas":3}}}`)
		fmt.Fprintln(w, `{"type":"ERROR","object":{"kind":"Status","status":"Failure","reason":"Expired","code":410,"message":"gone"}}`)
	}))
	w, err := c.Watch(context.Background(), ResourceOf[*api.Deployment](), "default", WatchOptions{ResourceVersion: "3"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := <-w.ResultChan()
	d, ok := ev.Object.(*api.Deployment)
	if ev.Type != Modified || !ok || *d.Spec.Replicas != 3 || d.Kind != "Deployment" {
		t.Fatalf("first event = %+v", ev)
	}
	ev = <-w.ResultChan()
	if ev.Type != Error || !api.IsGone(ev.Status) {
		t.Fatalf("second event = %+v, want ERROR with a Gone status", ev)
	}
	if _, open := <-w.ResultChan(); open {
		t.Fatal("channel still open after the stream ended")
	}
	if w.Err() != nil {
		t.Fatalf("Err = %v after a clean end", w.Err())
	}
}
