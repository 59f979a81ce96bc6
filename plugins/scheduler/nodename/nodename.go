// Package nodename is the NodeName filter: a pod that names a node
// (spec.nodeName, carried in the view as view.AnnotationNodeName) fits only
// there. Pods the scheduler places have no nodeName, so for them it keeps
// every node; it matters when the decision is asked whether a named node
// would take a pod.
package nodename

import (
	"context"

	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Reason is the filter's message for another node.
const Reason = "node(s) didn't match the requested node name"

// NodeName is the policy.
type NodeName struct{}

var _ scheduler.FilterPlugin = (*NodeName)(nil)

// Filter implements scheduler.FilterPlugin.
func (*NodeName) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	want := view.NodeName(pod)
	if want == "" {
		return nil
	}
	for i, slot := range candidates {
		if nodes[slot].Name != want {
			reasons[i] = Reason
		}
	}
	return nil
}
