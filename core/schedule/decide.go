package schedule

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// FilterPolicy is a filter plugin as the decision calls it: once per pod
// with a batch of candidate slots. *plugin.Plugin implements it; applied is
// false when a fail-open plugin failed and must be skipped, and err is a
// failure under fail-closed.
type FilterPolicy interface {
	Name() string
	Filter(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, reasons []string) (applied bool, err error)
}

// ScorePolicy is a score plugin as the decision calls it (see FilterPolicy).
type ScorePolicy interface {
	Name() string
	Weight() int64
	Score(ctx context.Context, pod *scheduler.Pod, snap scheduler.Snapshot, candidates []int32, scores []int64) (applied bool, err error)
}

// Policies are the plugins of one scheduling cycle, in order.
type Policies struct {
	Filters []FilterPolicy
	Scorers []ScorePolicy
}

// DecideOptions tune one decision.
type DecideOptions struct {
	// PercentageOfNodesToScore bounds how many feasible nodes are looked for
	// before scoring: 0 is adaptive as in kube-scheduler (50% minus 1% per
	// 125 nodes, at least 5%), 100 evaluates every node. At least
	// MinFeasibleNodesToFind are looked for either way.
	PercentageOfNodesToScore int32
	// Start is the occupied-node index filtering starts at; the scheduler
	// rotates it so successive pods look at different nodes first.
	Start int
	// Rand breaks ties between best-scored nodes; nil picks the first.
	Rand *rand.Rand
}

// MinFeasibleNodesToFind is the fewest feasible nodes a decision looks for
// before it stops filtering (kube-scheduler's minFeasibleNodesToFind).
const MinFeasibleNodesToFind = 100

// Decision is the outcome of Decide.
type Decision struct {
	// Node is the chosen node, "" when no node fits.
	Node string
	Slot int32
	// Nodes is how many nodes the snapshot has, Evaluated how many were
	// filtered and Feasible how many passed every filter.
	Nodes, Evaluated, Feasible int
	// Failed counts the evaluated nodes by the first reason a filter gave.
	Failed map[string]int
	// Skipped names fail-open plugins that failed and were left out.
	Skipped []string
}

// Message is kube-scheduler's FailedScheduling message, e.g.
// "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match
// Pod's node affinity/selector." Reasons are ordered by count, then name.
func (d *Decision) Message() string {
	if d.Nodes == 0 {
		return "0/0 nodes are available: the cluster has no nodes."
	}
	type count struct {
		reason string
		n      int
	}
	counts := make([]count, 0, len(d.Failed))
	for r, n := range d.Failed {
		counts = append(counts, count{r, n})
	}
	slices.SortFunc(counts, func(a, b count) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.reason, b.reason)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available: ", d.Nodes)
	for i, c := range counts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", c.n, c.reason)
	}
	b.WriteByte('.')
	return b.String()
}

// Scratch is reusable memory for Decide; one per scheduling goroutine.
type Scratch struct {
	occupied, order, candidates, next []int32
	reasons                           []string
	scores, totals                    []int64
}

// NumFeasibleNodesToFind is how many feasible nodes to look for among
// nodes, as kube-scheduler computes it.
func NumFeasibleNodesToFind(nodes int, percentage int32) int {
	if nodes < MinFeasibleNodesToFind || percentage >= 100 {
		return nodes
	}
	if percentage <= 0 {
		percentage = max(50-int32(nodes/125), 5)
	}
	n := nodes * int(percentage) / 100
	return max(n, MinFeasibleNodesToFind)
}

// Decide chooses a node for pod in snap: the filters narrow the candidates
// (each filter sees only the nodes the previous ones kept, in one batched
// call), the scorers rank the feasible nodes, and the best total wins. It
// does no I/O other than through the policies, so given the same policies,
// snapshot and options it always decides the same. A fail-closed policy's
// error is returned and the pod must not be placed in this cycle.
func Decide(ctx context.Context, pols Policies, pod *scheduler.Pod, snap scheduler.Snapshot, opts DecideOptions, sc *Scratch) (Decision, error) {
	if sc == nil {
		sc = &Scratch{}
	}
	sc.occupied = sc.occupied[:0]
	for slot, n := range snap.Nodes {
		if n != nil {
			sc.occupied = append(sc.occupied, int32(slot))
		}
	}
	d := Decision{Nodes: len(sc.occupied), Slot: -1}
	if d.Nodes == 0 {
		return d, nil
	}
	want := NumFeasibleNodesToFind(d.Nodes, opts.PercentageOfNodesToScore)
	start := opts.Start % d.Nodes
	if start < 0 {
		start += d.Nodes
	}
	// Rotate so that filtering starts at start.
	order := append(append(sc.order[:0], sc.occupied[start:]...), sc.occupied[:start]...)
	sc.order = order
	feasible := sc.candidates[:0]
	skipped := map[string]bool{}
	for d.Evaluated < d.Nodes && len(feasible) < want {
		// The first batch is as large as the nodes wanted; if too few fit,
		// the second takes every remaining node, so a pod costs each
		// filter at most two calls.
		size := want
		if d.Evaluated > 0 {
			size = d.Nodes - d.Evaluated
		}
		size = min(size, d.Nodes-d.Evaluated)
		batch := append(sc.next[:0], order[d.Evaluated:d.Evaluated+size]...)
		d.Evaluated += size
		kept, err := filterBatch(ctx, pols.Filters, pod, snap, batch, sc, &d, skipped)
		if err != nil {
			return d, err
		}
		feasible = append(feasible, kept...)
		sc.next = batch
	}
	sc.candidates = feasible
	if len(feasible) > want {
		feasible = feasible[:want]
	}
	d.Feasible = len(feasible)
	if d.Feasible == 0 {
		d.Skipped = sortedKeys(skipped)
		return d, nil
	}
	best, err := scoreAndPick(ctx, pols.Scorers, pod, snap, feasible, opts.Rand, sc, skipped)
	d.Skipped = sortedKeys(skipped)
	if err != nil {
		return d, err
	}
	d.Slot = best
	d.Node = snap.Nodes[best].Name
	return d, nil
}

// filterBatch runs every filter over batch, keeping in place the nodes that
// pass, and counts the first reason of each node that does not.
func filterBatch(ctx context.Context, filters []FilterPolicy, pod *scheduler.Pod, snap scheduler.Snapshot, batch []int32, sc *Scratch, d *Decision, skipped map[string]bool) ([]int32, error) {
	for _, f := range filters {
		if len(batch) == 0 {
			break
		}
		reasons := grow(&sc.reasons, len(batch))
		applied, err := f.Filter(ctx, pod, snap, batch, reasons)
		if err != nil {
			return nil, err
		}
		if !applied {
			skipped[f.Name()] = true
			continue
		}
		kept := batch[:0]
		for i, slot := range batch {
			if r := reasons[i]; r != "" {
				if d.Failed == nil {
					d.Failed = map[string]int{}
				}
				d.Failed[r]++
				continue
			}
			kept = append(kept, slot)
		}
		clear(reasons)
		batch = kept
	}
	return batch, nil
}

// scoreAndPick sums the weighted, normalised scores of the feasible nodes
// and returns the best one's slot.
func scoreAndPick(ctx context.Context, scorers []ScorePolicy, pod *scheduler.Pod, snap scheduler.Snapshot, feasible []int32, rng *rand.Rand, sc *Scratch, skipped map[string]bool) (int32, error) {
	if len(feasible) == 1 {
		return feasible[0], nil // nothing to rank
	}
	totals := grow(&sc.totals, len(feasible))
	clear(totals)
	for _, s := range scorers {
		scores := grow(&sc.scores, len(feasible))
		applied, err := s.Score(ctx, pod, snap, feasible, scores)
		if err != nil {
			return -1, err
		}
		if !applied {
			skipped[s.Name()] = true
			continue
		}
		normalise(scores)
		w := s.Weight()
		for i, v := range scores {
			totals[i] += v * w
		}
	}
	best, ties := 0, 1
	for i := 1; i < len(totals); i++ {
		switch {
		case totals[i] > totals[best]:
			best, ties = i, 1
		case totals[i] == totals[best]:
			// Reservoir sampling: each tied node wins with equal chance.
			ties++
			if rng != nil && rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return feasible[best], nil
}

// normalise brings one plugin's scores into [0, MaxNodeScore]: negative
// scores become 0 and, if any exceeds the maximum, all are scaled down
// proportionally, so a misbehaving plugin cannot outweigh the others.
func normalise(scores []int64) {
	var top int64
	for i, v := range scores {
		if v < 0 {
			scores[i] = 0
		}
		top = max(top, scores[i])
	}
	if top <= scheduler.MaxNodeScore {
		return
	}
	for i, v := range scores {
		scores[i] = v * scheduler.MaxNodeScore / top
	}
}

func grow[T any](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
