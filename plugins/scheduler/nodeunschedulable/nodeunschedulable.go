// Package nodeunschedulable is the NodeUnschedulable filter: a cordoned node
// (spec.unschedulable) takes no new pods, unless the pod tolerates the
// node.kubernetes.io/unschedulable:NoSchedule taint.
package nodeunschedulable

import (
	"context"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// TaintKey is the taint a cordoned node is treated as having.
const TaintKey = "node.kubernetes.io/unschedulable"

// Reason is the filter's message for a cordoned node.
const Reason = "node(s) were unschedulable"

// NodeUnschedulable is the policy.
type NodeUnschedulable struct{}

var _ scheduler.FilterPlugin = (*NodeUnschedulable)(nil)

var cordonTaint = scheduler.Taint{Key: TaintKey, Effect: scheduler.EffectNoSchedule}

// Filter implements scheduler.FilterPlugin.
func (*NodeUnschedulable) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	tolerated := false
	for _, t := range pod.Tolerations {
		if t.Tolerates(cordonTaint) {
			tolerated = true
			break
		}
	}
	for i, slot := range candidates {
		if nodes[slot].Unschedulable && !tolerated {
			reasons[i] = Reason
		}
	}
	return nil
}
