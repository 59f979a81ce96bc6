package plugin

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Scheduler calls reuse one session (stream) per caller; a call abandoned
// at its deadline tears its session down, and the next call opens another.
func TestProcessSessionsReusedAndReplaced(t *testing.T) {
	h := newTestHost(t, nil)
	if err := h.Apply([]Spec{{Name: "zone", Point: sdk.PointScore, Process: artifact("zone-pref-process")}}); err != nil {
		t.Fatal(err)
	}
	p := h.Scorers()[0]
	conn := p.loaded.impl.(*remote).acq.(*processPlugin).current.Load()
	table := zoneTable(30)
	idle := func() []any {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		out := make([]any, len(conn.idle))
		for i, s := range conn.idle {
			out[i] = s
		}
		return out
	}
	for range 3 {
		if _, _, err := score(t, p, table, zonePod("a")); err != nil {
			t.Fatal(err)
		}
	}
	first := idle()
	if len(first) != 1 {
		t.Fatalf("%d idle sessions after sequential calls, want 1 reused", len(first))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	table.Read(func(s scheduler.Snapshot) {
		c := allSlots(s)
		if _, err := p.Score(ctx, zonePod("a"), s, c, make([]int64, len(c))); err == nil {
			t.Error("a call with an ended context succeeded")
		}
	})
	if got := idle(); len(got) != 0 {
		t.Fatalf("the abandoned session went back to the pool (%d idle)", len(got))
	}
	scores, _, err := score(t, p, table, zonePod("a"))
	if err != nil || scores[0] != 100 {
		t.Fatalf("call after the abandoned one: scores[0]=%v err=%v", scores[0], err)
	}
	if got := idle(); len(got) != 1 || got[0] == first[0] {
		t.Fatal("the next call did not open a fresh session")
	}
}
