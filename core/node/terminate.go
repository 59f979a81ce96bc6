package node

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// terminate stops a deleted pod's containers within its grace period
// (SIGTERM, then SIGKILL), removes them, detaches the network (CNI DEL
// releases the address), removes the pod's volumes and files, and then
// confirms the deletion so the API server removes the pod object.
func (w *podWorker) terminate(ctx context.Context, pod *api.Pod, gone bool) error {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	grace := podGrace(pod)
	if pod.DeletionTimestamp != nil {
		// The grace period runs from the deletion, not from when we see it.
		grace = max(0, time.Until(pod.DeletionTimestamp.Add(grace)))
	}
	w.stopAll(ctx, pod, grace)
	if err := w.a.rt.RemovePod(ctx, pod.UID); err != nil {
		return fmt.Errorf("remove containers: %w", err)
	}
	if w.a.net != nil {
		if err := w.a.net.Detach(ctx, pod.UID); err != nil {
			return fmt.Errorf("detach network: %w", err)
		}
	}
	w.attachment = nil
	if err := w.removeVolumes(); err != nil {
		return err
	}
	if err := os.RemoveAll(w.a.podDir(pod.UID)); err != nil {
		return fmt.Errorf("remove pod files: %w", err)
	}
	if gone {
		return nil
	}
	zero := int64(0)
	uid := pod.UID
	err := client.Delete[*api.Pod](ctx, w.a.client, pod.Namespace, pod.Name, client.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &client.Preconditions{UID: &uid},
	})
	if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
		return fmt.Errorf("confirm deletion: %w", err)
	}
	return nil
}

// ensureNetwork attaches the pod to the node's network once and remembers
// its address; hostNetwork pods use the node's.
func (w *podWorker) ensureNetwork(ctx context.Context, pod *api.Pod) bool {
	if pod.Spec.HostNetwork {
		w.podIP = w.a.nodeIPs[0]
		return true
	}
	if w.attachment != nil {
		return true
	}
	att, err := w.a.net.Attach(ctx, PodRef{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name})
	if err != nil {
		if ctx.Err() == nil {
			w.a.log.Warn("attach pod network", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		for _, st := range w.containersOf(pod) {
			if st.id == "" {
				st.waitReason, st.waitMessage = reasonContainerCreating, "pod network: "+err.Error()
			}
		}
		return false
	}
	w.attachment = &att
	if len(att.IPs) > 0 {
		w.podIP = att.IPs[0].String()
	}
	return true
}

// containersOf returns the state of every container of the pod's spec.
func (w *podWorker) containersOf(pod *api.Pod) []*containerState {
	var out []*containerState
	for i := range pod.Spec.InitContainers {
		out = append(out, w.state(pod.Spec.InitContainers[i].Name, true))
	}
	for i := range pod.Spec.Containers {
		out = append(out, w.state(pod.Spec.Containers[i].Name, false))
	}
	return out
}
