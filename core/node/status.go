package node

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// containerIDPrefix marks container IDs in pod status, as Kubernetes'
// "containerd://<id>".
const containerIDPrefix = "skiff://"

// phase is the pod's phase from its containers' states.
func (w *podWorker) phase(pod *api.Pod) string {
	if w.finished && (pod.Status.Phase == "Succeeded" || pod.Status.Phase == "Failed") {
		return pod.Status.Phase
	}
	policy := pod.Spec.RestartPolicy
	for i := range pod.Spec.InitContainers {
		st := w.containers[pod.Spec.InitContainers[i].Name]
		if st == nil || st.status.State != runtime.StateExited || st.status.ExitCode != 0 {
			if policy == "Never" && st != nil && st.status.State == runtime.StateExited {
				return "Failed"
			}
			return "Pending"
		}
	}
	running, exited, failed := 0, 0, 0
	for i := range pod.Spec.Containers {
		st := w.containers[pod.Spec.Containers[i].Name]
		switch {
		case st == nil || st.id == "":
			return "Pending"
		case st.status.State == runtime.StateRunning:
			running++
		case st.status.State == runtime.StateExited:
			exited++
			if st.status.ExitCode != 0 {
				failed++
			}
		}
	}
	n := len(pod.Spec.Containers)
	switch {
	case exited == n && policy == "Never" && failed > 0:
		return "Failed"
	case exited == n && policy != "Always" && failed == 0:
		return "Succeeded"
	case running > 0 || exited > 0:
		return "Running"
	}
	return "Pending"
}

// buildStatus is the pod status the agent reports, keeping what others
// own (PodScheduled, qosClass) and the times of unchanged conditions.
func (w *podWorker) buildStatus(pod *api.Pod) api.PodStatus {
	st := api.DeepCopy(pod).Status
	st.Phase = w.phase(pod)
	st.HostIP = w.a.nodeIPs[0]
	st.PodIP, st.PodIPs = "", nil
	if w.podIP != "" && !w.finished {
		st.PodIP, st.PodIPs = w.podIP, []api.PodIP{{IP: w.podIP}}
	} else if w.finished {
		st.PodIP, st.PodIPs = pod.Status.PodIP, pod.Status.PodIPs
	}
	st.StartTime = w.startTime
	st.Message, st.Reason = "", ""
	if w.volumesErr != nil {
		st.Message = w.volumesErr.Error()
	}
	initialized := true
	st.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := w.containerStatus(c, w.state(c.Name, true))
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initialized = false
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	ready := true
	st.ContainerStatuses = nil
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := w.containerStatus(c, w.state(c.Name, false))
		if !initialized && cs.State.Waiting != nil && cs.State.Waiting.Reason == reasonContainerCreating {
			cs.State.Waiting.Reason = reasonPodInitializing
		}
		ready = ready && cs.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	now := time.Now().UTC().Truncate(time.Second)
	setCondition(&st, "PodScheduled", true, "", now)
	setCondition(&st, "Initialized", initialized, "ContainersNotInitialized", now)
	setCondition(&st, "ContainersReady", ready, "ContainersNotReady", now)
	setCondition(&st, "Ready", ready, "ContainersNotReady", now)
	return st
}

// setCondition sets a condition, keeping its transition time when its
// status did not change.
func setCondition(st *api.PodStatus, typ string, ok bool, falseReason string, now time.Time) {
	cond := api.PodCondition{Type: typ, Status: "True", LastTransitionTime: now}
	if !ok {
		cond.Status, cond.Reason = "False", falseReason
	}
	if old := api.GetPodCondition(st, typ); old != nil && old.Status == cond.Status {
		cond.LastTransitionTime = old.LastTransitionTime
		if typ == "PodScheduled" {
			return // the scheduler's
		}
	}
	api.SetPodCondition(st, cond)
}

// containerStatus renders one container's state for the pod status.
func (w *podWorker) containerStatus(c *api.Container, st *containerState) api.ContainerStatus {
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image, RestartCount: st.restarts, Started: new(false)}
	if st.id != "" {
		cs.ContainerID = containerIDPrefix + st.id
		cs.ImageID = st.status.ImageID
	}
	if st.last != nil {
		cs.LastTerminationState = terminated(st.last)
	}
	switch {
	case st.waitReason != "":
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: st.waitReason, Message: st.waitMessage}
		if st.waitReason == reasonCrashLoopBackOff {
			cs.LastTerminationState = terminated(&st.status)
		}
	case st.id == "":
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: reasonContainerCreating}
	case st.status.State == runtime.StateRunning:
		cs.State.Running = &api.ContainerStateRunning{StartedAt: st.status.StartedAt.UTC().Truncate(time.Second)}
		started, ready := true, true
		if st.probes != nil {
			started, ready = st.probes.results()
		} else if !st.isInit && (c.StartupProbe != nil || c.ReadinessProbe != nil) {
			started, ready = c.StartupProbe == nil, false
		}
		cs.Started = new(started)
		cs.Ready = started && ready
	case st.status.State == runtime.StateExited:
		cs.State = terminated(&st.status)
	default:
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: reasonContainerCreating}
	}
	return cs
}

func terminated(s *runtime.ContainerStatus) api.ContainerState {
	return api.ContainerState{Terminated: &api.ContainerStateTerminated{
		ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message,
		StartedAt: s.StartedAt.UTC().Truncate(time.Second), FinishedAt: s.FinishedAt.UTC().Truncate(time.Second),
		ContainerID: containerIDPrefix + s.ID,
	}}
}

// writeStatus updates the pod's status subresource when it changed.
func (w *podWorker) writeStatus(ctx context.Context, pod *api.Pod, status api.PodStatus) error {
	if sameJSON(pod.Status, status) {
		return nil
	}
	upd := api.DeepCopy(pod)
	upd.Status = status
	out, err := client.UpdateStatus(ctx, w.a.client, upd)
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.pod.ResourceVersion == pod.ResourceVersion {
		w.pod = out
	}
	w.mu.Unlock()
	return nil
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
