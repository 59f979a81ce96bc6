package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBenchWatchFanout: 1,000 HTTP watchers on one resource; objects are
// written at a modest rate and the delay from each write's return to each
// watcher's receipt is recorded. Prints the p99 over all deliveries.
func TestBenchWatchFanout(t *testing.T) {
	b := startServer(t)
	const watchers = 1000
	const writes = 100
	const interval = 50 * time.Millisecond // 20 writes/s
	path := "/api/v1/namespaces/default/configmaps"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		writtenMu sync.Mutex
		written   = map[string]time.Time{} // name -> when its POST returned
		delaysMu  sync.Mutex
		delays    []time.Duration
		received  sync.WaitGroup
	)
	type receipt struct {
		name string
		at   time.Time
	}
	var ready sync.WaitGroup
	for range watchers {
		ready.Add(1)
		received.Add(1)
		go func() {
			defer received.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", b.srv.URL()+path+"?watch=true&resourceVersion=0", nil)
			req.Header.Set("Authorization", "Bearer "+b.token)
			resp, err := b.client.Do(req)
			ready.Done()
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			defer resp.Body.Close()
			var mine []receipt
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for len(mine) < writes && sc.Scan() {
				// Only the name is needed: find it without decoding JSON,
				// so the client side costs little CPU on this shared machine.
				line := sc.Bytes()
				i := bytes.Index(line, []byte(`"name":"`))
				if i < 0 {
					continue
				}
				rest := line[i+8:]
				mine = append(mine, receipt{name: string(rest[:bytes.IndexByte(rest, '"')]), at: time.Now()})
			}
			writtenMu.Lock()
			local := make([]time.Duration, 0, len(mine))
			for _, r := range mine {
				local = append(local, max(r.at.Sub(written[r.name]), 0))
			}
			writtenMu.Unlock()
			if len(mine) < writes {
				t.Errorf("a watcher got %d of %d events", len(mine), writes)
			}
			delaysMu.Lock()
			delays = append(delays, local...)
			delaysMu.Unlock()
		}()
	}
	ready.Wait()
	time.Sleep(time.Second) // let every stream be registered with the cache
	for i := range writes {
		name := fmt.Sprintf("fan-%d", i)
		// Record the return time before the body is read: the watch
		// event may arrive while the response is still being read.
		body := fmt.Appendf(nil, `{"metadata":{"name":%q},"data":{"k":"v"}}`, name)
		code, out := b.do(ctx, "POST", path, body)
		now := time.Now()
		if code != 201 {
			t.Fatalf("create %s: %d %s", name, code, out)
		}
		writtenMu.Lock()
		written[name] = now
		writtenMu.Unlock()
		time.Sleep(interval)
	}
	done := make(chan struct{})
	go func() { received.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cancel()
		<-done
	}
	if len(delays) == 0 {
		t.Fatal("no deliveries")
	}
	slices.Sort(delays)
	p99 := delays[len(delays)*99/100]
	t.Logf("%d deliveries; p50 %v p99 %v max %v", len(delays), delays[len(delays)/2], p99, delays[len(delays)-1])
	fmt.Printf("BENCH watch_fanout_p99_ms %.1f ms\n", float64(p99.Microseconds())/1000)
}
