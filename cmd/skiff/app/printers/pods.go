package printers

import (
	"fmt"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

var podTable = kindTable{
	columns: cols("NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP+", "NODE+"),
	row: func(obj api.Object, now time.Time) []string {
		pod := obj.(*api.Pod)
		ready, total, restarts, status, lastRestart := PodSummary(pod)
		restartText := strconv.Itoa(restarts)
		if restarts != 0 && !lastRestart.IsZero() {
			restartText = fmt.Sprintf("%d (%s ago)", restarts, Age(lastRestart, now))
		}
		return []string{
			pod.Name, fmt.Sprintf("%d/%d", ready, total), status, restartText,
			Age(pod.CreationTimestamp, now), orNone(pod.Status.PodIP), orNone(pod.Spec.NodeName),
		}
	},
}

// PodSummary computes what kubectl shows for a pod: ready and total
// containers, restarts summed over containers, the STATUS text (a waiting
// or terminated reason such as CrashLoopBackOff, Init:0/1, Completed,
// Terminating) and when a container last restarted.
func PodSummary(pod *api.Pod) (ready, total, restarts int, status string, lastRestart time.Time) {
	total = len(pod.Spec.Containers)
	status = pod.Status.Phase
	if pod.Status.Reason != "" {
		status = pod.Status.Reason
	}
	noteRestart := func(cs *api.ContainerStatus) {
		restarts += int(cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil && t.FinishedAt.After(lastRestart) {
			lastRestart = t.FinishedAt
		}
	}

	initializing := false
	for i := range pod.Status.InitContainerStatuses {
		cs := &pod.Status.InitContainerStatuses[i]
		noteRestart(cs)
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case cs.State.Terminated != nil:
			status = "Init:" + terminatedReason(cs.State.Terminated)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			status = "Init:" + cs.State.Waiting.Reason
		default:
			status = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing {
		hasRunning := false
		// Walk backwards so the first container's reason wins, as kubectl.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := &pod.Status.ContainerStatuses[i]
			noteRestart(cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				status = cs.State.Waiting.Reason
			case cs.State.Terminated != nil:
				status = terminatedReason(cs.State.Terminated)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				ready++
			}
		}
		// A completed container next to a running one: the pod still runs.
		if status == "Completed" && hasRunning {
			status = "NotReady"
			if api.IsPodReady(pod) {
				status = "Running"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		status = "Terminating"
		if pod.Status.Reason == "NodeLost" {
			status = "Unknown"
		}
	}
	return ready, total, restarts, status, lastRestart
}

// terminatedReason is the runtime's reason (Completed, Error, OOMKilled),
// else the exit signal or code.
func terminatedReason(t *api.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	}
	return fmt.Sprintf("ExitCode:%d", t.ExitCode)
}
