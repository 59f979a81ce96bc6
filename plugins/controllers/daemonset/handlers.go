package daemonset

import (
	"maps"
	"slices"

	"github.com/skiff-sh/skiff/core/api"
)

// nodeChanged queues every DaemonSet: any of them may now belong on, or off,
// the node.
func (c *Controller) nodeChanged(obj api.Object) {
	for _, ds := range c.sets.List("", nil) {
		c.queue.Add(ds.Key())
	}
}

// nodeUpdated ignores heartbeats: only what decides eligibility matters.
func (c *Controller) nodeUpdated(oldObj, newObj api.Object) {
	oldNode, node := oldObj.(*api.Node), newObj.(*api.Node)
	if maps.Equal(oldNode.Labels, node.Labels) && slices.EqualFunc(oldNode.Spec.Taints, node.Spec.Taints, sameTaint) {
		return
	}
	c.nodeChanged(node)
}

func sameTaint(a, b api.Taint) bool {
	return a.Key == b.Key && a.Value == b.Value && a.Effect == b.Effect
}
