package job

import (
	"github.com/skiff-sh/skiff/core/api"
)

// jobKey is the key of the Job controlling pod, if it still exists.
func (c *Controller) jobKey(pod *api.Pod) (string, bool) {
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != kind {
		return "", false
	}
	job, ok := c.jobs.Get(pod.Namespace, ref.Name)
	if !ok || job.UID != ref.UID {
		return "", false
	}
	return job.Key(), true
}

// enqueueMatching queues the Jobs an orphan pod could be adopted by.
func (c *Controller) enqueueMatching(pod *api.Pod) {
	for _, job := range c.jobs.List(pod.Namespace, nil) {
		if sel, err := api.SelectorFromLabelSelector(job.Spec.Selector); err == nil && sel.Matches(pod.Labels) {
			c.queue.Add(job.Key())
		}
	}
}

func (c *Controller) podAdded(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := c.jobKey(pod); ok {
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
	key, owned := c.jobKey(pod)
	if owned && pod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		c.exp.DeletionObserved(key, pod.Key())
	}
	if oldKey, ok := c.jobKey(oldPod); ok && (!owned || oldKey != key) {
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
	if key, ok := c.jobKey(pod); ok {
		c.exp.DeletionObserved(key, pod.Key())
		c.queue.Add(key)
	}
}
