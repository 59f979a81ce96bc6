// Package clienttest runs a real API server over an embedded etcd for tests
// of API clients (the client package, the CLI, controllers).
package clienttest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/apiserver"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/store"
)

// Etcd is one embedded etcd shared by a test binary; every server started
// with NewServer keeps its objects under its own key prefix, so tests stay
// independent without paying etcd's start-up for each.
type Etcd struct {
	embedded *store.Embedded
	dir      string
	seq      atomic.Int64
}

// StartEtcd starts the shared etcd in a temporary directory. It also points
// $SKIFF_CONFIG into that directory, so no test writes ~/.skiff/config.
// Call it from TestMain and Close it when m.Run returns.
func StartEtcd() (*Etcd, error) {
	dir, err := os.MkdirTemp("", "skiff-clienttest-")
	if err != nil {
		return nil, err
	}
	os.Setenv("SKIFF_CONFIG", dir+"/user-config")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: dir, ProgressInterval: 300 * time.Millisecond})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("clienttest: start etcd: %w", err)
	}
	return &Etcd{embedded: e, dir: dir}, nil
}

// Close stops etcd and removes its directory.
func (e *Etcd) Close() error {
	err := e.embedded.Close()
	os.RemoveAll(e.dir)
	return err
}

// Server is a running API server and the store under it.
type Server struct {
	*apiserver.Server
	Store  store.Store
	Config *client.Config
	Client *client.Client
}

// NewServer starts an API server on loopback with a fresh key prefix and
// waits until it serves; the test's cleanup stops it.
func (e *Etcd) NewServer(t testing.TB) *Server {
	t.Helper()
	st := store.NewEtcd(e.embedded.Client(), fmt.Sprintf("/clienttest/%d", e.seq.Add(1)))
	srv, err := apiserver.New(apiserver.Config{
		Store: st, DataDir: t.TempDir(), Listen: "127.0.0.1:0", BookmarkInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("apiserver Run: %v", err)
		}
	})
	cfg := srv.ClientConfig()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, c)
	return &Server{Server: srv, Store: st, Config: cfg, Client: c}
}

// waitReady waits for the bootstrap "default" namespace, which the server
// creates as it starts serving.
func waitReady(t testing.TB, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, err := client.Get[*api.Namespace](ctx, c, "", "default")
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("API server not ready after 20s: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RunMain is a TestMain body: it starts the shared etcd into *e, runs the
// tests, stops etcd and exits with the tests' code.
func RunMain(m *testing.M, e **Etcd) {
	var err error
	if *e, err = StartEtcd(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	(*e).Close()
	os.Exit(code)
}
