package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

// testEtcd is one embedded etcd shared by the package's tests; each test
// works under its own key prefix.
var testEtcd *Embedded

func TestMain(m *testing.M) {
	os.Exit(runWithEtcd(m))
}

func runWithEtcd(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skiff-store-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "store tests: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testEtcd, err = StartEmbedded(ctx, EmbeddedConfig{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "store tests:", err)
		return 1
	}
	defer testEtcd.Close()
	return m.Run()
}

var prefixSeq atomic.Int64

// newStore returns a store under a prefix no other test uses.
func newStore(t testing.TB) Store {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	s := NewEtcd(testEtcd.Client(), fmt.Sprintf("/test/%s-%d", name, prefixSeq.Add(1)))
	t.Cleanup(func() { s.Close() })
	return s
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func resource(t testing.TB, kind string) *api.Resource {
	t.Helper()
	res, ok := api.ResourceForKind(kind)
	if !ok {
		t.Fatalf("kind %s is not registered", kind)
	}
	return res
}

func configMap(namespace, name string, labels map[string]string, data map[string]string) *api.ConfigMap {
	return &api.ConfigMap{
		ObjectMeta: api.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Data:       data,
	}
}

func mustCreate(t testing.TB, ctx context.Context, s Store, obj api.Object) api.Object {
	t.Helper()
	out, err := s.Create(ctx, obj)
	if err != nil {
		t.Fatalf("create %s: %v", obj.GetObjectMeta().Key(), err)
	}
	return out
}

// compact compacts the shared etcd at its current revision; watches and
// continue tokens from before then become Gone.
func compact(t testing.TB, ctx context.Context) int64 {
	t.Helper()
	resp, err := testEtcd.Client().Get(ctx, "/", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testEtcd.Client().Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact at %d: %v", resp.Header.Revision, err)
	}
	return resp.Header.Revision
}

func names(items []api.Object) []string {
	out := make([]string, len(items))
	for i, obj := range items {
		out[i] = obj.GetObjectMeta().Key()
	}
	return out
}
