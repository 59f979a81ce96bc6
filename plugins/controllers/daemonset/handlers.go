package daemonset

import (
	"maps"
	"slices"

	"github.com/skiff-sh/skiff/core/api"
)

// setKey is the key of the DaemonSet controlling pod, if it still exists.
func (c *Controller) setKey(pod *api.Pod) (string, bool) {
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != kind {
		return "", false
	}
	ds, ok := c.sets.Get(pod.Namespace, ref.Name)
	if !ok || ds.UID != ref.UID {
		return "", false
	}
	return ds.Key(), true
}

// enqueueMatching queues the DaemonSets an orphan pod could be adopted by.
func (c *Controller) enqueueMatching(pod *api.Pod) {
	for _, ds := range c.sets.List(pod.Namespace, nil) {
		if sel, err := api.SelectorFromLabelSelector(ds.Spec.Selector); err == nil && sel.Matches(pod.Labels) {
			c.queue.Add(ds.Key())
		}
	}
}

func (c *Controller) podAdded(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := c.setKey(pod); ok {
		if pod.DeletionTimestamp != nil {
			c.exp.DeletionObserved(key, pod.Key())
		} else {
			c.exp.CreationObserved(key)
		}
		c.queue.Add(key)
		return
	}
	if pod.ControllerRef() == nil && pod.DeletionTimestamp == nil {
		c.enqueueMatching(pod)
	}
}

func (c *Controller) podUpdated(oldObj, newObj api.Object) {
	oldPod, pod := oldObj.(*api.Pod), newObj.(*api.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return
	}
	key, owned := c.setKey(pod)
	if owned && pod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		c.exp.DeletionObserved(key, pod.Key())
	}
	if oldKey, ok := c.setKey(oldPod); ok && (!owned || oldKey != key) {
		c.queue.Add(oldKey)
	}
	if owned {
		c.queue.Add(key)
	} else if pod.ControllerRef() == nil && pod.DeletionTimestamp == nil {
		c.enqueueMatching(pod)
	}
}

func (c *Controller) podDeleted(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := c.setKey(pod); ok {
		c.exp.DeletionObserved(key, pod.Key())
		c.queue.Add(key)
	}
}

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
