package scenario

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/reconcile/leader"
	"github.com/skiff-sh/skiff/core/store"
)

// TestLeaderElectionHandsControllersOver runs two controller managers the
// way two skiffd servers would: only the elected one runs controllers, and
// when it stops the other takes over within the lease TTL.
func TestLeaderElectionHandsControllersOver(t *testing.T) {
	c := Start(t, etcd, Options{NoManager: true})
	// The election needs an etcd client; a second embedded etcd keeps this
	// test independent of how the shared one is exposed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	const ttl = 2 * time.Second
	var leading atomic.Value
	leading.Store("")
	candidate := func(identity string) (stop func()) {
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = leader.Run(runCtx, e.Client(), "controller-manager", identity, ttl, func(lctx context.Context) {
				m, err := NewManager(c.Client, 2, c.log)
				if err != nil {
					t.Error(err)
					return
				}
				leading.Store(identity)
				if err := m.Run(lctx); err != nil {
					t.Errorf("%s: manager: %v", identity, err)
				}
			}, func() { leading.CompareAndSwap(identity, "") })
		}()
		return func() { cancel(); <-done }
	}
	stopA := candidate("server-a")
	Eventually(t, 10*time.Second, func() error {
		if leading.Load() != "server-a" {
			return errString("server-a not leading yet")
		}
		return nil
	})
	stopB := candidate("server-b")
	defer stopB()

	if _, err := createDeployment(c, "web", 2); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "default", "web", converge)
	if leading.Load() != "server-a" {
		t.Fatalf("leader changed to %v without a reason", leading.Load())
	}

	stopped := time.Now()
	stopA()
	Eventually(t, ttl+time.Second, func() error {
		if leading.Load() != "server-b" {
			return errString("server-b has not taken over")
		}
		return nil
	})
	t.Logf("hand-over took %s (ttl %s)", time.Since(stopped), ttl)
	scale(t, c, "web", 4)
	c.WaitDeploymentComplete(t, "default", "web", converge)
}

type errString string

func (e errString) Error() string { return string(e) }
