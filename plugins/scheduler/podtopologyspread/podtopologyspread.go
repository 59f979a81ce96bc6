// Package podtopologyspread holds the PodTopologySpread filter and score:
// a pod's topology spread constraints (carried in the view as
// view.AnnotationTopologySpread) count the pods matching each constraint's
// selector, in the pod's namespace, per domain of the constraint's topology
// key, over the nodes that pass the pod's node selector and required node
// affinity. DoNotSchedule constraints filter: placing the pod must keep
// count(domain) - min(count) within maxSkew. ScheduleAnyway constraints
// score: the fewer matching pods in a node's domains, the better.
package podtopologyspread

import (
	"context"

	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/plugins/scheduler/internal/policyutil"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeaffinity"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Filter messages, as kube-scheduler words them.
const (
	ReasonSkew         = "node(s) didn't match pod topology spread constraints"
	ReasonMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// Filter is the PodTopologySpread filter.
type Filter struct{}

// Score is the PodTopologySpread score.
type Score struct{}

var (
	_ scheduler.FilterPlugin = (*Filter)(nil)
	_ scheduler.ScorePlugin  = (*Score)(nil)
)

// constraints returns the pod's constraints with the given action.
func constraints(pod *scheduler.Pod, action string) ([]view.SpreadConstraint, error) {
	all, err := view.SpreadConstraints(pod)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, c := range all {
		if c.WhenUnsatisfiable == action || (action == view.DoNotSchedule && c.WhenUnsatisfiable == "") {
			out = append(out, c)
		}
	}
	return out, nil
}

// domainCounts counts the matching pods per domain of c's key over the
// nodes eligible for pod; every eligible domain is present, possibly at 0.
func domainCounts(pod *scheduler.Pod, c *view.SpreadConstraint, nodes []*scheduler.Node) map[string]int64 {
	counts := map[string]int64{}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		d, ok := policyutil.Domain(n, c.TopologyKey)
		if !ok || !nodeaffinity.Fits(pod, n) {
			continue
		}
		count := counts[d]
		for i := range n.Pods {
			ref := &n.Pods[i]
			if ref.Namespace == pod.Namespace && view.Matches(c.Selector, ref.Labels) {
				count++
			}
		}
		counts[d] = count
	}
	return counts
}

// Filter implements scheduler.FilterPlugin.
func (*Filter) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	cs, err := constraints(pod, view.DoNotSchedule)
	if err != nil || len(cs) == 0 {
		return err
	}
	for ci := range cs {
		c := &cs[ci]
		counts := domainCounts(pod, c, nodes)
		minCount := int64(-1)
		for _, n := range counts {
			if minCount < 0 || n < minCount {
				minCount = n
			}
		}
		var self int64
		if view.Matches(c.Selector, pod.Labels) {
			self = 1
		}
		for i, slot := range candidates {
			if reasons[i] != "" {
				continue
			}
			d, ok := policyutil.Domain(nodes[slot], c.TopologyKey)
			switch {
			case !ok:
				reasons[i] = ReasonMissingLabel
			case counts[d]+self-max(minCount, 0) > int64(c.MaxSkew):
				reasons[i] = ReasonSkew
			}
		}
	}
	return nil
}

// Score implements scheduler.ScorePlugin: 100 for the candidates whose
// domains hold the fewest matching pods, 0 for the most (and for nodes
// without a constraint's key).
func (*Score) Score(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, scores []int64) error {
	cs, err := constraints(pod, view.ScheduleAnyway)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		for i := range scores {
			scores[i] = scheduler.MaxNodeScore
		}
		return nil
	}
	clear(scores)
	missing := make([]bool, len(candidates))
	for ci := range cs {
		c := &cs[ci]
		counts := domainCounts(pod, c, nodes)
		for i, slot := range candidates {
			if d, ok := policyutil.Domain(nodes[slot], c.TopologyKey); ok {
				scores[i] += counts[d]
			} else {
				missing[i] = true
			}
		}
	}
	lo, hi := int64(-1), int64(0)
	for i, s := range scores {
		if missing[i] {
			continue
		}
		if lo < 0 || s < lo {
			lo = s
		}
		hi = max(hi, s)
	}
	for i, s := range scores {
		switch {
		case missing[i]:
			scores[i] = 0
		case hi == lo:
			scores[i] = scheduler.MaxNodeScore
		default:
			scores[i] = (hi - s) * scheduler.MaxNodeScore / (hi - lo)
		}
	}
	return nil
}
