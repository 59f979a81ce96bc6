package apiserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// A watcher that does not read is dropped once its buffer is full, while a
// watcher that keeps up receives every event.
func TestWatchCacheDropsSlowWatcher(t *testing.T) {
	ts := newTestServer(t)
	res, _ := api.ResourceForKind("ConfigMap")
	cache := ts.cacheFor(res)
	ctx := context.Background()
	slow, _, err := cache.subscribe(ctx, 0, false, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	fast, _, err := cache.subscribe(ctx, 0, false, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int)
	go func() {
		n := 0
		for range fast.events {
			n++
			if n == 5 {
				got <- n
			}
		}
	}()
	for i := range 5 {
		ts.must(201, "POST", cmPath, configMap(fmt.Sprintf("s%d", i), nil, nil))
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("the reading watcher did not get all 5 events; slow has %d buffered, cache has %d watchers", len(slow.events), len(cache.watchers))
	}
	n := 0
	for range slow.events { // closed by the cache after 2 buffered events
		n++
	}
	if n != 2 {
		t.Fatalf("slow watcher got %d events before being closed, want its buffer of 2", n)
	}
	cache.unsubscribe(fast)
}
