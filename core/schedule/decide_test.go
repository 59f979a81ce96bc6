package schedule

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// fakeFilter rejects the slots reject says, counting calls and candidates.
type fakeFilter struct {
	reject     func(slot int32) bool
	calls, saw int
	applied    bool
	err        error
}

func (f *fakeFilter) Name() string { return "fake" }
func (f *fakeFilter) Filter(_ context.Context, _ *scheduler.Pod, _ scheduler.Snapshot, c []int32, r []string) (bool, error) {
	f.calls++
	f.saw += len(c)
	for i, slot := range c {
		if f.reject(slot) {
			r[i] = "rejected"
		}
	}
	return f.applied, f.err
}

type constScore struct{ v int64 }

func (constScore) Name() string  { return "const" }
func (constScore) Weight() int64 { return 1 }
func (s constScore) Score(_ context.Context, _ *scheduler.Pod, _ scheduler.Snapshot, c []int32, out []int64) (bool, error) {
	for i := range c {
		out[i] = s.v
	}
	return true, nil
}

func table(n int) *scheduler.NodeTable {
	t := scheduler.NewNodeTable()
	for i := range n {
		t.Set(&scheduler.Node{Name: fmt.Sprintf("n%04d", i)})
	}
	return t
}

func decide(tb *scheduler.NodeTable, pols Policies, opts DecideOptions) (Decision, error) {
	var d Decision
	var err error
	tb.Read(func(s scheduler.Snapshot) {
		d, err = Decide(context.Background(), pols, &scheduler.Pod{Name: "p"}, s, opts, nil)
	})
	return d, err
}

func TestNumFeasibleNodesToFindIsKubeSchedulers(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		pct   int32
		want  int
	}{{50, 0, 50}, {150, 0, 100}, {1000, 0, 420}, {5000, 0, 500}, {10000, 0, 500}, {1000, 100, 1000}, {1000, 30, 300}, {1000, 1, 100}} {
		if got := NumFeasibleNodesToFind(tc.nodes, tc.pct); got != tc.want {
			t.Errorf("%d nodes at %d%%: %d, want %d", tc.nodes, tc.pct, got, tc.want)
		}
	}
}

func TestDecideBatchesAndBoundsEvaluation(t *testing.T) {
	tb := table(1000)
	all := &fakeFilter{reject: func(int32) bool { return false }, applied: true}
	d, err := decide(tb, Policies{Filters: []FilterPolicy{all}}, DecideOptions{})
	if err != nil || d.Node == "" {
		t.Fatal(d, err)
	}
	if all.calls != 1 || d.Evaluated != 420 || all.saw != 420 {
		t.Fatalf("calls %d, evaluated %d, candidates seen %d: want one call over 420 nodes", all.calls, d.Evaluated, all.saw)
	}
	// Few nodes fit: a second batch takes every remaining node, and the
	// message counts all of them.
	most := &fakeFilter{reject: func(slot int32) bool { return slot%10 != 0 }, applied: true}
	d, _ = decide(tb, Policies{Filters: []FilterPolicy{most}}, DecideOptions{Start: 7})
	if most.calls != 2 || d.Evaluated != 1000 || d.Feasible != 100 || d.Failed["rejected"] != 900 {
		t.Fatalf("calls %d evaluated %d feasible %d failed %v", most.calls, d.Evaluated, d.Feasible, d.Failed)
	}
}

func TestDecideFailurePolicies(t *testing.T) {
	tb := table(3)
	open := &fakeFilter{reject: func(int32) bool { return true }, applied: false}
	d, err := decide(tb, Policies{Filters: []FilterPolicy{open}}, DecideOptions{})
	if err != nil || d.Node == "" || len(d.Skipped) != 1 {
		t.Fatalf("fail-open filter that failed: node %q skipped %v err %v", d.Node, d.Skipped, err)
	}
	closed := &fakeFilter{reject: func(int32) bool { return false }, err: errors.New("boom")}
	if d, err := decide(tb, Policies{Filters: []FilterPolicy{closed}}, DecideOptions{}); err == nil || d.Node != "" {
		t.Fatalf("fail-closed filter that failed: node %q err %v", d.Node, err)
	}
}

func TestDecideBreaksTiesAtRandom(t *testing.T) {
	tb := table(4)
	rng := rand.New(rand.NewPCG(1, 1))
	seen := map[string]bool{}
	for range 100 {
		d, err := decide(tb, Policies{Scorers: []ScorePolicy{constScore{50}}}, DecideOptions{Rand: rng})
		if err != nil {
			t.Fatal(err)
		}
		seen[d.Node] = true
	}
	if len(seen) != 4 {
		t.Fatalf("100 tied decisions chose only %v", seen)
	}
}

func TestNormaliseClampsAndScales(t *testing.T) {
	s := []int64{-5, 100, 400, 200}
	normalise(s)
	if s[0] != 0 || s[1] != 25 || s[2] != 100 || s[3] != 50 {
		t.Fatalf("normalised %v, want [0 25 100 50]", s)
	}
}
