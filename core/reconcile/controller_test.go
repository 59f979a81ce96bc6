package reconcile

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func TestControllerRetriesErrorsAndMapsObjectsToOwnerKeys(t *testing.T) {
	inf := NewInformer(nil, client.ResourceOf[*api.Pod](), nil)
	var mu sync.Mutex
	calls := map[string]int{}
	r := ReconcilerFunc(func(_ context.Context, key string) (Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[key]++
		if key == "a/rs" && calls[key] < 3 {
			return Result{}, errors.New("transient")
		}
		if key == "a/again" && calls[key] == 1 {
			return Result{RequeueAfter: time.Millisecond}, nil
		}
		if key == "a/boom" {
			panic("bug")
		}
		return Result{}, nil
	})
	c := NewController("test", r, nil, nil)
	c.Watch(inf, KeyOfControllerOwner("ReplicaSet"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, 2) }()

	time.Sleep(10 * time.Millisecond)
	mu.Lock()
	if len(calls) != 0 {
		t.Fatal("reconciled before the informer synced")
	}
	mu.Unlock()
	inf.OnSync([]api.Object{testPod("a", "p1", "u1", "", "rsuid"), testPod("a", "p2", "u2", "", "rsuid")})
	c.Queue().Add("a/again")
	c.Queue().Add("a/boom")
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls["a/rs"] >= 3 && calls["a/again"] >= 2 && calls["a/boom"] >= 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls["a/rs"] != 3 {
		t.Fatalf("a/rs reconciled %d times; want 3 (two failures, then success, then nothing)", calls["a/rs"])
	}
}

func TestManagerRejectsDuplicatesAndBadWorkers(t *testing.T) {
	c, err := client.New(&client.Config{Server: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ManagerOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	f := func(h *Handle) (*Controller, error) {
		return NewController("x", ReconcilerFunc(func(context.Context, string) (Result, error) { return Result{}, nil }), h.Clock, h.Logger), nil
	}
	if err := m.Add("x", f, 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Add("x", f, 1); err == nil {
		t.Fatal("duplicate controller name accepted")
	}
	if err := m.Add("y", f, 0); err == nil {
		t.Fatal("0 workers accepted")
	}
	if got := m.Names(); len(got) != 1 || got[0] != "x" {
		t.Fatalf("Names = %v", got)
	}
}
