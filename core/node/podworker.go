package node

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// Crash-loop and image-pull backoff, as Kubernetes: the first restart is
// immediate, then 10 s doubling to 5 min; a container that ran 10 min
// without failing starts over.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// podWorker converges the runtime on one pod. Its fields below mu are
// written by the pod watch and read by the worker goroutine; the rest
// belong to the worker goroutine (and, read-only, to logs and exec under
// stateMu).
type podWorker struct {
	a   *Agent
	uid string

	mu   sync.Mutex
	pod  *api.Pod
	gone bool
	wake chan struct{}

	stateMu    sync.Mutex
	containers map[string]*containerState // by container name
	attachment *Attachment
	podIP      string
	startTime  *time.Time
	finished   bool // the pod reached Succeeded or Failed
	volumesErr error
	volumes    *podVolumes
}

// containerState is what the worker knows about one container of the pod.
type containerState struct {
	name    string
	isInit  bool
	id      string // current attempt, "" before the first
	attempt int
	status  runtime.ContainerStatus
	last    *runtime.ContainerStatus // the previous attempt's end
	// restarts is the number of attempts after the first.
	restarts int32
	// backoff is the delay before the next restart or pull; until ends it.
	backoff     time.Duration
	delay       time.Duration // the delay of the current restart
	until       time.Time
	backoffFor  string // the attempt ID (or "pull") the current delay is for
	waitReason  string
	waitMessage string
	probes      *probeSet
	watching    string // attempt ID whose exit is being waited for
}

func newPodWorker(a *Agent, pod *api.Pod, adopted []runtime.ContainerStatus) *podWorker {
	w := &podWorker{
		a: a, uid: pod.UID, pod: pod, wake: make(chan struct{}, 1),
		containers: map[string]*containerState{},
		finished:   api.IsPodTerminal(pod),
	}
	if pod.Status.StartTime != nil {
		t := *pod.Status.StartTime
		w.startTime = &t
	}
	w.adopt(adopted)
	return w
}

// adopt takes over the containers a previous agent started: the latest
// attempt of each container is current, the one before is its last state,
// and the restart count is the latest attempt number.
func (w *podWorker) adopt(list []runtime.ContainerStatus) {
	sort.Slice(list, func(i, j int) bool { return list[i].Attempt < list[j].Attempt })
	for _, c := range list {
		st := w.state(c.Name, false)
		if st.id != "" {
			prev := st.status
			st.last = &prev
		}
		st.id, st.attempt, st.status, st.restarts = c.ID, c.Attempt, c, int32(c.Attempt)
	}
}

func (w *podWorker) state(name string, isInit bool) *containerState {
	st, ok := w.containers[name]
	if !ok {
		st = &containerState{name: name}
		w.containers[name] = st
	}
	st.isInit = st.isInit || isInit
	return st
}

func (w *podWorker) snapshot() (*api.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

func (w *podWorker) update(pod *api.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	w.signal()
}

func (w *podWorker) markGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.signal()
}

// signal asks the worker for another pass soon.
func (w *podWorker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run syncs the pod until it is removed or ctx ends.
func (w *podWorker) run(ctx context.Context) {
	defer w.stopProbes()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		next, done := w.sync(ctx)
		if done {
			w.a.removeWorker(w)
			return
		}
		timer.Stop()
		select {
		case <-timer.C:
		default:
		}
		timer.Reset(next)
	}
}

// sync is one pass: terminate a deleted pod, or converge a live one and
// report its status. It returns when to look again.
func (w *podWorker) sync(ctx context.Context) (next time.Duration, done bool) {
	pod, gone := w.snapshot()
	if gone || pod.DeletionTimestamp != nil {
		if err := w.terminate(ctx, pod, gone); err != nil {
			if ctx.Err() == nil {
				w.a.log.Warn("terminate pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			}
			return 2 * time.Second, false
		}
		return 0, true
	}
	w.stateMu.Lock()
	next = w.converge(ctx, pod)
	status := w.buildStatus(pod)
	w.stateMu.Unlock()
	if err := w.writeStatus(ctx, pod, status); err != nil {
		if ctx.Err() == nil {
			w.a.log.Debug("write pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		return min(next, 500*time.Millisecond), false
	}
	return next, false
}

// converge brings the runtime to the pod's spec and returns when to look
// again (the resync interval, or sooner for a backoff that ends).
func (w *podWorker) converge(ctx context.Context, pod *api.Pod) time.Duration {
	next := w.a.cfg.ResyncInterval
	w.observe(ctx)
	if w.finished {
		w.stopAll(ctx, pod, 0)
		return next
	}
	if !w.ensureNetwork(ctx, pod) {
		return min(next, 2*time.Second)
	}
	w.volumesErr = w.ensureVolumes(ctx, pod)
	if w.volumesErr != nil {
		return min(next, 2*time.Second)
	}
	if w.startTime == nil {
		now := time.Now().UTC().Truncate(time.Second)
		w.startTime = &now
	}
	policy := pod.Spec.RestartPolicy
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := w.state(c.Name, true)
		initPolicy := "OnFailure"
		if policy == "Never" {
			initPolicy = "Never"
		}
		w.step(ctx, pod, c, st, initPolicy)
		if !(st.status.State == runtime.StateExited && st.status.ExitCode == 0) {
			return w.nextLook(next)
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		w.step(ctx, pod, c, w.state(c.Name, false), policy)
	}
	if phase := w.phase(pod); phase == "Succeeded" || phase == "Failed" {
		w.finished = true
		w.stopAll(ctx, pod, 0)
	}
	return w.nextLook(next)
}

// nextLook is the resync interval or the end of the nearest backoff.
func (w *podWorker) nextLook(next time.Duration) time.Duration {
	now := time.Now()
	for _, st := range w.containers {
		if st.waitReason != "" && st.until.After(now) {
			next = min(next, st.until.Sub(now)+50*time.Millisecond)
		}
	}
	return max(next, 10*time.Millisecond)
}

// observe refreshes the state of every current attempt from the runtime.
func (w *podWorker) observe(ctx context.Context) {
	for _, st := range w.containers {
		if st.id == "" {
			continue
		}
		s, err := w.a.rt.ContainerStatus(ctx, st.id)
		if err != nil {
			if ctx.Err() == nil {
				// The container vanished (removed by hand): start over.
				w.a.log.Warn("container status", "container", st.name, "id", st.id, "err", err)
				st.status = runtime.ContainerStatus{ID: st.id, Name: st.name, State: runtime.StateExited, ExitCode: 137, Reason: runtime.ReasonError, FinishedAt: time.Now()}
			}
			continue
		}
		st.status = s
	}
}

// stopAll stops every running container with grace (used once the pod is
// finished, and on deletion).
func (w *podWorker) stopAll(ctx context.Context, pod *api.Pod, grace time.Duration) {
	var wg sync.WaitGroup
	for _, st := range w.containers {
		if st.probes != nil {
			st.probes.stop()
			st.probes = nil
		}
		if st.id == "" || st.status.State != runtime.StateRunning {
			continue
		}
		w.a.events.Eventf(pod, reconcile.EventNormal, EventKilling, "Stopping container %s", st.name)
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if err := w.a.rt.StopContainer(ctx, id, grace); err != nil && ctx.Err() == nil {
				w.a.log.Warn("stop container", "pod", pod.Namespace+"/"+pod.Name, "id", id, "err", err)
			}
		}(st.id)
	}
	wg.Wait()
	w.observe(ctx)
}

func (w *podWorker) stopProbes() {
	w.stateMu.Lock()
	defer w.stateMu.Unlock()
	for _, st := range w.containers {
		if st.probes != nil {
			st.probes.stop()
			st.probes = nil
		}
	}
}
