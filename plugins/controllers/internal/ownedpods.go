package internal

import (
	"context"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// OwnedPods ties the pods of a workload kind to their owners (ReplicaSets,
// DaemonSets, StatefulSets, Jobs): it turns pod events into owner keys on
// the queue, counts them against the owner's expectations, and lists the
// pods an owner controls or could adopt.
type OwnedPods[T api.Object] struct {
	// Kind is the ownerReference kind of the owners ("ReplicaSet").
	Kind   string
	Owners reconcile.Lister[T]
	Pods   reconcile.Lister[*api.Pod]
	// Selector returns an owner's pod selector.
	Selector func(T) *api.LabelSelector
	Exp      *Expectations
	Queue    *reconcile.Queue
}

// Handler is the pod informer handler that wakes the owners.
func (o *OwnedPods[T]) Handler() reconcile.HandlerFuncs {
	return reconcile.HandlerFuncs{AddFunc: o.podAdded, UpdateFunc: o.podUpdated, DeleteFunc: o.podDeleted}
}

// Claim returns the pods owner controls, adopting matching orphans and
// releasing pods that no longer match (see Claim).
func (o *OwnedPods[T]) Claim(ctx context.Context, c *client.Client, owner T, sel api.Selector) ([]*api.Pod, error) {
	meta := owner.GetObjectMeta()
	candidates := append(o.Pods.ByIndex(reconcile.IndexController, meta.UID), o.Pods.ByIndex(reconcile.IndexOrphan, meta.Namespace)...)
	return Claim(ctx, c, owner, sel, candidates)
}

// ownerKey is the key of the owner controlling pod, if it still exists
// (same name and UID).
func (o *OwnedPods[T]) ownerKey(pod *api.Pod) (string, bool) {
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != o.Kind {
		return "", false
	}
	owner, ok := o.Owners.Get(pod.Namespace, ref.Name)
	if !ok || owner.GetObjectMeta().UID != ref.UID {
		return "", false
	}
	return owner.GetObjectMeta().Key(), true
}

// enqueueMatching queues the owners an orphan pod could be adopted by.
func (o *OwnedPods[T]) enqueueMatching(pod *api.Pod) {
	for _, owner := range o.Owners.List(pod.Namespace, nil) {
		if sel, err := api.SelectorFromLabelSelector(o.Selector(owner)); err == nil && sel.Matches(pod.Labels) {
			o.Queue.Add(owner.GetObjectMeta().Key())
		}
	}
}

func (o *OwnedPods[T]) podAdded(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := o.ownerKey(pod); ok {
		if pod.DeletionTimestamp != nil {
			o.Exp.DeletionObserved(key, pod.Key())
		} else {
			o.Exp.CreationObserved(key)
		}
		o.Queue.Add(key)
		return
	}
	if pod.ControllerRef() == nil && pod.DeletionTimestamp == nil {
		o.enqueueMatching(pod)
	}
}

func (o *OwnedPods[T]) podUpdated(oldObj, newObj api.Object) {
	oldPod, pod := oldObj.(*api.Pod), newObj.(*api.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return
	}
	key, owned := o.ownerKey(pod)
	if owned && pod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		// A graceful delete has begun: for counting it is gone already.
		o.Exp.DeletionObserved(key, pod.Key())
	}
	if oldKey, ok := o.ownerKey(oldPod); ok && (!owned || oldKey != key) {
		o.Queue.Add(oldKey)
	}
	if owned {
		o.Queue.Add(key)
	} else if pod.ControllerRef() == nil && pod.DeletionTimestamp == nil {
		o.enqueueMatching(pod)
	}
}

func (o *OwnedPods[T]) podDeleted(obj api.Object) {
	pod := obj.(*api.Pod)
	if key, ok := o.ownerKey(pod); ok {
		o.Exp.DeletionObserved(key, pod.Key())
		o.Queue.Add(key)
	}
}
