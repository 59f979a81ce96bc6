package apiserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// testEtcd is one embedded etcd shared by the package's tests; each test
// server works under its own key prefix.
var testEtcd *store.Embedded

func TestMain(m *testing.M) {
	os.Exit(runWithEtcd(m))
}

func runWithEtcd(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skiff-apiserver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver tests: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Tests must never touch the real ~/.skiff/config.
	os.Setenv("SKIFF_CONFIG", dir+"/user-config")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testEtcd, err = store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: dir, ProgressInterval: 300 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver tests:", err)
		return 1
	}
	defer testEtcd.Close()
	return m.Run()
}

var prefixSeq atomic.Int64

// testServer is a running API server on loopback with an admin client.
type testServer struct {
	*Server
	t      *testing.T
	store  store.Store
	client *http.Client
	token  string
}

func newTestServer(t *testing.T, mutate ...func(*Config)) *testServer {
	t.Helper()
	st := store.NewEtcd(testEtcd.Client(), fmt.Sprintf("/apiserver-test/%d", prefixSeq.Add(1)))
	cfg := Config{Store: st, DataDir: t.TempDir(), Listen: "127.0.0.1:0", BookmarkInterval: 200 * time.Millisecond}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ts := &testServer{Server: srv, t: t, store: st, client: tlsClient(t, srv.CAPEM()), token: srv.ClientConfig().Token}
	t.Cleanup(func() {
		// Closing the client's connections first spares the server the
		// HTTP/2 GOAWAY grace period (1 s) per test.
		ts.client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		st.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := ts.do("GET", "/readyz", "", nil)
		if code == http.StatusOK {
			return ts
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 20s (last /readyz code %d)", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tlsClient(t testing.TB, caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM does not parse")
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}}
}

// do sends a request with the admin token; contentType "" sends JSON.
func (ts *testServer) do(method, path, contentType string, body []byte) (int, []byte) {
	ts.t.Helper()
	resp := ts.send(method, path, contentType, body, ts.token)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func (ts *testServer) send(method, path, contentType string, body []byte, token string) *http.Response {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.URL()+path, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType == "" && body != nil {
		contentType = "application/json"
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// must sends a request and fails the test unless the code is want.
func (ts *testServer) must(want int, method, path string, body any) []byte {
	ts.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			ts.t.Fatal(err)
		}
	}
	code, out := ts.do(method, path, "", data)
	if code != want {
		ts.t.Fatalf("%s %s: code %d, want %d; body: %s", method, path, code, want, out)
	}
	return out
}

// status decodes a Status response and checks its code and reason.
func expectStatus(t *testing.T, code int, body []byte, wantCode int, wantReason api.StatusReason) *api.Status {
	t.Helper()
	var st api.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("response is not a Status: %v: %s", err, body)
	}
	if code != wantCode || int(st.Code) != wantCode || st.Reason != wantReason || st.Kind != "Status" || st.Message == "" {
		t.Fatalf("got code %d Status{code %d, reason %q, kind %q, message %q}; want code %d reason %q",
			code, st.Code, st.Reason, st.Kind, st.Message, wantCode, wantReason)
	}
	return &st
}

func decode[T any](t *testing.T, data []byte) *T {
	t.Helper()
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("decode %T: %v: %s", out, err, data)
	}
	return out
}

func configMap(name string, labels map[string]string, data map[string]string) *api.ConfigMap {
	return &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}, Data: data}
}

func pod(name, node string, labels map[string]string) *api.Pod {
	return &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: name, Labels: labels},
		Spec:       api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
}

func deployment(name string, replicas int32) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.DeploymentSpec{Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "nginx"}}}}}}
}

// listNames lists a collection and returns item names in order.
func (ts *testServer) listNames(path string) ([]string, string) {
	ts.t.Helper()
	var list struct {
		Metadata api.ListMeta `json:"metadata"`
		Items    []struct {
			Metadata api.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(ts.must(200, "GET", path, nil), &list); err != nil {
		ts.t.Fatal(err)
	}
	names := []string{}
	for _, it := range list.Items {
		names = append(names, it.Metadata.Name)
	}
	return names, list.Metadata.Continue
}

func (ts *testServer) revision() int64 {
	ts.t.Helper()
	rev, err := ts.store.Revision(context.Background())
	if err != nil {
		ts.t.Fatal(err)
	}
	return rev
}

func joinNames(names []string) string { return strings.Join(names, ",") }
