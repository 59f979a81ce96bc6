package cronjob

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/core/reconcile"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

// runController runs this controller alone, on clock, until the test ends.
func runController(t *testing.T, cli *client.Client, clock reconcile.Clock) {
	t.Helper()
	m, err := reconcile.NewManager(reconcile.ManagerOptions{Client: cli, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Name, New, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}
