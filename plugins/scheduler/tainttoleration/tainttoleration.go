// Package tainttoleration holds the TaintToleration filter (a node with a
// NoSchedule or NoExecute taint the pod does not tolerate is out) and score
// (fewer untolerated PreferNoSchedule taints is better).
package tainttoleration

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Filter is the TaintToleration filter.
type Filter struct{}

// Score is the TaintToleration score.
type Score struct{}

var (
	_ scheduler.FilterPlugin = (*Filter)(nil)
	_ scheduler.ScorePlugin  = (*Score)(nil)
)

func tolerated(pod *scheduler.Pod, taint scheduler.Taint) bool {
	for _, t := range pod.Tolerations {
		if t.Tolerates(taint) {
			return true
		}
	}
	return false
}

// Reason is the filter's message for an untolerated taint, as
// kube-scheduler words it.
func Reason(t scheduler.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// Filter implements scheduler.FilterPlugin.
func (*Filter) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	for i, slot := range candidates {
		for _, taint := range nodes[slot].Taints {
			if (taint.Effect == scheduler.EffectNoSchedule || taint.Effect == scheduler.EffectNoExecute) && !tolerated(pod, taint) {
				reasons[i] = Reason(taint)
				break
			}
		}
	}
	return nil
}

// Score implements scheduler.ScorePlugin: 100 for the nodes with the fewest
// untolerated PreferNoSchedule taints, down to 0 for the most.
func (*Score) Score(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, scores []int64) error {
	var most int64
	for i, slot := range candidates {
		scores[i] = 0
		for _, taint := range nodes[slot].Taints {
			if taint.Effect == scheduler.EffectPreferNoSchedule && !tolerated(pod, taint) {
				scores[i]++
			}
		}
		most = max(most, scores[i])
	}
	for i, n := range scores {
		if most == 0 {
			scores[i] = scheduler.MaxNodeScore
		} else {
			scores[i] = scheduler.MaxNodeScore - n*scheduler.MaxNodeScore/most
		}
	}
	return nil
}
