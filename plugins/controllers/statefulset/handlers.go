package statefulset

import (
	"github.com/skiff-sh/skiff/core/api"
)

// setKey is the key of the StatefulSet controlling pod, if it still exists.
func (c *Controller) setKey(pod *api.Pod) (string, bool) {
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != kind {
		return "", false
	}
	set, ok := c.sets.Get(pod.Namespace, ref.Name)
	if !ok || set.UID != ref.UID {
		return "", false
	}
	return set.Key(), true
}

// enqueueMatching queues the StatefulSets an orphan pod could be adopted by.
func (c *Controller) enqueueMatching(pod *api.Pod) {
	for _, set := range c.sets.List(pod.Namespace, nil) {
		if sel, err := api.SelectorFromLabelSelector(set.Spec.Selector); err == nil && sel.Matches(pod.Labels) {
			c.queue.Add(set.Key())
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
