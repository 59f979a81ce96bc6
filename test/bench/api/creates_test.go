package api

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBenchCreates: 16 concurrent clients create ConfigMaps for ~10 s.
func TestBenchCreates(t *testing.T) {
	b := startServer(t)
	const clients = 16
	const duration = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var created, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d-%d","labels":{"bench":"creates"}},"data":{"key":"value-%d"}}`, c, i, i)
				code, out := b.do(ctx, "POST", "/api/v1/namespaces/default/configmaps", body)
				switch {
				case code == 201:
					created.Add(1)
				case ctx.Err() == nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", code, out))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		t.Fatalf("%d creates failed, first: %v", failed.Load(), firstErr.Load())
	}
	fmt.Printf("BENCH api_creates_per_s %.0f ops/s\n", float64(created.Load())/elapsed.Seconds())
}
