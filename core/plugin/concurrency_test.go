package plugin

import (
	"fmt"
	"sync"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Concurrent cycles share a process's mirror and spread over a WASM pool
// while the table keeps changing between reads; every call must see the
// generation it was made at.
func TestConcurrentCallsFollowTheTable(t *testing.T) {
	h := newTestHost(t, nil)
	if err := h.Apply([]Spec{
		{Name: "p", Point: sdk.PointScore, Process: artifact("zone-pref-process")},
		{Name: "w", Point: sdk.PointScore, Wasm: artifact("zone-pref.wasm")},
	}); err != nil {
		t.Fatal(err)
	}
	table := zoneTable(60)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if g == 0 { // one writer moves node-0000 between zones a and b
					zone := string(rune('a' + i%2))
					table.Set(&scheduler.Node{Name: "node-0000", Labels: scheduler.MakeLabels(map[string]string{"zone": zone})})
				}
				table.Read(func(s scheduler.Snapshot) {
					want := int64(0)
					if s.Nodes[0].Labels.Value("zone") == "a" {
						want = 100
					}
					for _, p := range h.Scorers() {
						c := []int32{0}
						scores := make([]int64, 1)
						if _, err := p.Score(t.Context(), zonePod("a"), s, c, scores); err != nil {
							errs <- err
						} else if scores[0] != want {
							errs <- fmt.Errorf("%s at generation %d: score %d, want %d", p.Name(), s.Gen, scores[0], want)
						}
					}
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
