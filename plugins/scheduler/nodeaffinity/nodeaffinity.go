// Package nodeaffinity holds the NodeAffinity filter (spec.nodeSelector and
// required node affinity) and the NodeAffinity score (preferred node
// affinity: the sum of the weights of the matching terms, scaled so the
// best candidate gets 100).
package nodeaffinity

import (
	"context"

	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Reason is the filter's message, as kube-scheduler words it.
const Reason = "node(s) didn't match Pod's node affinity/selector"

// Filter is the NodeAffinity filter.
type Filter struct{}

// Score is the NodeAffinity score.
type Score struct{}

var (
	_ scheduler.FilterPlugin = (*Filter)(nil)
	_ scheduler.ScorePlugin  = (*Score)(nil)
)

// Fits reports whether the node satisfies the pod's nodeSelector and its
// required node affinity.
func Fits(pod *scheduler.Pod, n *scheduler.Node) bool {
	for _, kv := range pod.NodeSelector {
		if v, ok := n.Labels.Get(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	if a := pod.Affinity; a != nil && a.NodeRequired != nil {
		return view.TermsMatchNode(a.NodeRequired, n)
	}
	return true
}

// Filter implements scheduler.FilterPlugin.
func (*Filter) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	if len(pod.NodeSelector) == 0 && (pod.Affinity == nil || pod.Affinity.NodeRequired == nil) {
		return nil
	}
	for i, slot := range candidates {
		if !Fits(pod, nodes[slot]) {
			reasons[i] = Reason
		}
	}
	return nil
}

// Score implements scheduler.ScorePlugin.
func (*Score) Score(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, scores []int64) error {
	clear(scores)
	if pod.Affinity == nil || len(pod.Affinity.NodePreferred) == 0 {
		return nil
	}
	var top int64
	for i, slot := range candidates {
		for _, t := range pod.Affinity.NodePreferred {
			if len(t.Term.Requirements) > 0 && view.MatchesNode(t.Term.Requirements, nodes[slot]) {
				scores[i] += int64(t.Weight)
			}
		}
		top = max(top, scores[i])
	}
	if top > 0 {
		for i := range scores {
			scores[i] = scores[i] * scheduler.MaxNodeScore / top
		}
	}
	return nil
}
