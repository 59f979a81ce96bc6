package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// Waiting reasons the agent reports, as Kubernetes does.
const (
	reasonContainerCreating = "ContainerCreating"
	reasonPodInitializing   = "PodInitializing"
	reasonCrashLoopBackOff  = "CrashLoopBackOff"
	reasonErrImagePull      = "ErrImagePull"
	reasonImagePullBackOff  = "ImagePullBackOff"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonConfigError       = "CreateContainerConfigError"
	reasonCreateError       = "CreateContainerError"
	reasonRunError          = "RunContainerError"
)

// step converges one container under restartPolicy policy.
func (w *podWorker) step(ctx context.Context, pod *api.Pod, c *api.Container, st *containerState, policy string) {
	switch {
	case st.id == "":
		w.startAttempt(ctx, pod, c, st, 0)
	case st.status.State == runtime.StateRunning:
		st.waitReason, st.waitMessage = "", ""
		w.watchExit(st)
		if st.probes == nil && !st.isInit {
			st.probes = w.startProbes(pod, c, st)
		}
		if st.probes != nil && st.probes.failed() {
			// A failed liveness or startup probe restarts the container.
			w.a.log.Info("probe failed, restarting container", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name)
			w.a.events.Eventf(pod, reconcile.EventNormal, EventKilling, "Container %s failed %s probe, will be restarted", c.Name, st.probes.failedKind())
			st.probes.stop()
			st.probes = nil
			if err := w.a.rt.StopContainer(ctx, st.id, probeGrace(pod, c)); err != nil && ctx.Err() == nil {
				w.a.log.Warn("stop container", "container", c.Name, "err", err)
			}
			if s, err := w.a.rt.ContainerStatus(ctx, st.id); err == nil {
				st.status = s
			}
			if st.status.State == runtime.StateExited {
				w.restartIfDue(ctx, pod, c, st, policy)
			}
		}
	case st.status.State == runtime.StateExited:
		if st.probes != nil {
			st.probes.stop()
			st.probes = nil
		}
		w.restartIfDue(ctx, pod, c, st, policy)
	default:
		// Created but never started (a start that failed, or an agent that
		// stopped between create and start): replace it.
		if err := w.a.rt.RemoveContainer(ctx, st.id); err != nil {
			w.a.log.Warn("remove unstarted container", "container", c.Name, "err", err)
			return
		}
		st.id = ""
		w.startAttempt(ctx, pod, c, st, st.attempt)
	}
}

// restartIfDue applies restartPolicy to an exited container, with backoff.
func (w *podWorker) restartIfDue(ctx context.Context, pod *api.Pod, c *api.Container, st *containerState, policy string) {
	code := st.status.ExitCode
	if policy == "Never" || (policy == "OnFailure" && code == 0) {
		st.waitReason, st.waitMessage = "", ""
		return
	}
	now := time.Now()
	if st.backoffFor != st.id {
		// First look at this exit: schedule the restart.
		if !st.status.StartedAt.IsZero() && st.status.FinishedAt.Sub(st.status.StartedAt) >= backoffReset {
			st.backoff = 0
		}
		st.delay = st.backoff
		st.until = now.Add(st.delay)
		st.backoffFor = st.id
		st.backoff = nextBackoff(st.backoff)
		if st.delay > 0 {
			w.a.events.Eventf(pod, reconcile.EventWarning, EventBackOff, "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
	}
	if now.Before(st.until) {
		st.waitReason = reasonCrashLoopBackOff
		st.waitMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", st.delay, c.Name, pod.Name, pod.Namespace, pod.UID)
		return
	}
	w.startAttempt(ctx, pod, c, st, st.attempt+1)
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return backoffInitial
	}
	return min(2*d, backoffMax)
}

// startAttempt pulls the image and creates and starts attempt of c. On
// failure the container waits with a reason and a backoff.
func (w *podWorker) startAttempt(ctx context.Context, pod *api.Pod, c *api.Container, st *containerState, attempt int) {
	now := time.Now()
	if st.waitReason != "" && st.backoffFor == "pull" && now.Before(st.until) {
		if st.waitReason == reasonErrImagePull {
			st.waitReason = reasonImagePullBackOff
			st.waitMessage = fmt.Sprintf("Back-off pulling image %q: %s", c.Image, st.waitMessage)
			w.a.events.Eventf(pod, reconcile.EventNormal, EventBackOff, "Back-off pulling image %q", c.Image)
		}
		return
	}
	img, err := w.ensureImage(ctx, pod, c)
	if err != nil {
		st.waitReason, st.waitMessage = reasonErrImagePull, imageError(c, err)
		if errors.Is(err, runtime.ErrImageNeverPull) {
			st.waitReason = reasonErrImageNeverPull
		}
		w.pullBackoff(st)
		return
	}
	if st.backoffFor == "pull" {
		st.backoff, st.backoffFor = 0, ""
	}
	spec, err := w.containerSpec(ctx, pod, c, attempt)
	if err != nil {
		st.waitReason, st.waitMessage = reasonConfigError, err.Error()
		w.a.events.Eventf(pod, reconcile.EventWarning, EventFailed, "Error: %v", err)
		return
	}
	id, err := w.a.rt.CreateContainer(ctx, w.runtimePod(pod), spec)
	if err != nil {
		st.waitReason, st.waitMessage = reasonCreateError, err.Error()
		w.a.events.Eventf(pod, reconcile.EventWarning, EventFailed, "Error: %v", err)
		return
	}
	w.a.events.Eventf(pod, reconcile.EventNormal, EventCreated, "Created container %s", c.Name)
	if err := w.a.rt.StartContainer(ctx, id); err != nil {
		w.a.rt.RemoveContainer(ctx, id)
		st.waitReason, st.waitMessage = reasonRunError, err.Error()
		w.a.events.Eventf(pod, reconcile.EventWarning, EventFailed, "Error: %v", err)
		return
	}
	w.a.events.Eventf(pod, reconcile.EventNormal, EventStarted, "Started container %s", c.Name)
	prev := st.id
	if prev != "" {
		last := st.status
		st.last = &last
		st.restarts++
		w.removeOlderAttempts(ctx, st, attempt)
	}
	st.id, st.attempt = id, attempt
	st.waitReason, st.waitMessage = "", ""
	// The start succeeded: report Running now rather than after another
	// round trip. An early exit wakes the worker through watchExit, and
	// every later pass reads the runtime's state.
	st.status = runtime.ContainerStatus{ID: id, Name: c.Name, Attempt: attempt, Image: c.Image, ImageID: img.ID, State: runtime.StateRunning, StartedAt: time.Now()}
	w.watchExit(st)
	if st.probes == nil && !st.isInit {
		st.probes = w.startProbes(pod, c, st)
	}
}

// removeOlderAttempts keeps the previous attempt (its log serves
// `logs --previous`) and removes the ones before it.
func (w *podWorker) removeOlderAttempts(ctx context.Context, st *containerState, attempt int) {
	if st.last == nil || st.last.Attempt >= attempt-1 {
		return
	}
	if err := w.a.rt.RemoveContainer(ctx, st.last.ID); err != nil {
		w.a.log.Debug("remove old attempt", "container", st.name, "err", err)
	}
}

func (w *podWorker) pullBackoff(st *containerState) {
	if st.backoffFor != "pull" {
		st.backoff = 0
	}
	st.until = time.Now().Add(max(st.backoff, time.Second))
	st.backoff = nextBackoff(st.backoff)
	st.backoffFor = "pull"
}

// watchExit wakes the worker when the current attempt exits, when the
// runtime can tell.
func (w *podWorker) watchExit(st *containerState) {
	waiter, ok := w.a.rt.(runtime.ExitWaiter)
	if !ok || st.watching == st.id || st.id == "" {
		return
	}
	st.watching = st.id
	// Subscribing costs runtime round trips: keep them off the path to the
	// status write. An exit before the subscription is still reported.
	id := st.id
	go func() {
		ch, err := waiter.WaitContainer(w.a.ctx, id)
		if err != nil {
			return
		}
		if _, ok := <-ch; ok {
			w.signal()
		}
	}()
}

// pullPolicy is the container's imagePullPolicy, defaulted as Kubernetes
// does: Always for :latest or untagged images, else IfNotPresent.
func pullPolicy(c *api.Container) runtime.PullPolicy {
	switch c.ImagePullPolicy {
	case "Always", "IfNotPresent", "Never":
		return runtime.PullPolicy(c.ImagePullPolicy)
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return runtime.PullIfNotPresent
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash || strings.HasSuffix(ref, ":latest") {
		return runtime.PullAlways
	}
	return runtime.PullIfNotPresent
}

// runtimePod is the sandbox the runtime puts the pod's containers in.
func (w *podWorker) runtimePod(pod *api.Pod) runtime.Pod {
	p := runtime.Pod{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, Hostname: pod.Spec.Hostname}
	if w.attachment != nil {
		p.NetNSPath = w.attachment.NetNSPath
	}
	if w.volumes != nil {
		p.ResolvConfPath, p.HostsPath = w.volumes.resolvConf, w.volumes.hosts
	}
	return p
}

func probeGrace(pod *api.Pod, c *api.Container) time.Duration {
	for _, p := range []*api.Probe{c.LivenessProbe, c.StartupProbe} {
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
	}
	return podGrace(pod)
}

func podGrace(pod *api.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}
