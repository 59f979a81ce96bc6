package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/protobuf"
)

// StartContainer starts a created container, copying its output to its log
// file. At most MaxParallelStarts containers start at once; the others wait
// their turn in order.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("start container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	// LoadContainer fetched the record: its labels need no second call.
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	labels := info.Labels
	select {
	case r.starts <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("start container %s (%s): waiting for a start slot: %w", id, describe(labels), ctx.Err())
	}
	err = r.startTask(ctx, c, labels)
	<-r.starts
	if err != nil {
		return err
	}
	_, err = c.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return fmt.Errorf("start container %s: record start time: %w", id, err)
	}
	return nil
}

// startTask creates the container's task (the shim, runc create) and
// starts it.
func (r *Runtime) startTask(ctx context.Context, c containerd.Container, labels map[string]string) error {
	id := c.ID()
	logs, err := openLogFile(labels[labelLogPath])
	if err != nil {
		return fmt.Errorf("start container %s: log file: %w", id, err)
	}
	stdout := &streamWriter{file: logs, stream: "stdout"}
	stderr := &streamWriter{file: logs, stream: "stderr"}
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, stdout, stderr), cio.WithFIFODir(fifoDir(r.cfg.DataDir))))
	if err != nil {
		logs.Close()
		return fmt.Errorf("start container %s (%s): create task: %w", id, describe(labels), err)
	}
	r.trackStreams(id, task.IO(), logs, stdout, stderr)
	if err := task.Start(ctx); err != nil {
		task.Delete(ctx, containerd.WithProcessKill)
		return fmt.Errorf("start container %s (%s): %w", id, describe(labels), err)
	}
	return nil
}

// containerStreams copies a container's output to its log; drained is
// closed once all of it is in the log file.
type containerStreams struct {
	cio.IO
	drained chan struct{}
}

// trackStreams remembers a container's log copier and closes its log file
// once the container's output ends.
func (r *Runtime) trackStreams(id string, streams cio.IO, logs *logFile, writers ...*streamWriter) {
	s := &containerStreams{IO: streams, drained: make(chan struct{})}
	r.mu.Lock()
	r.streams[id] = s
	r.mu.Unlock()
	go func() {
		streams.Wait()
		for _, w := range writers {
			w.flush()
		}
		logs.Close()
		close(s.drained)
	}()
}

// drainTimeout bounds how long an exit waits for the container's last
// output to reach its log (a process that escaped the container could hold
// the FIFO open).
const drainTimeout = 2 * time.Second

// waitDrained waits until container id's output is all in its log, as the
// CRI does before it reports an exit, so that logs read after an exit are
// complete.
func (r *Runtime) waitDrained(ctx context.Context, id string) {
	r.mu.Lock()
	s, ok := r.streams[id]
	r.mu.Unlock()
	if !ok {
		return
	}
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-s.drained:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// untrackStreams stops copying a container's output.
func (r *Runtime) untrackStreams(id string) {
	r.mu.Lock()
	s, ok := r.streams[id]
	delete(r.streams, id)
	r.mu.Unlock()
	if ok {
		s.Cancel()
		s.Wait()
	}
}

func describe(labels map[string]string) string {
	return fmt.Sprintf("pod %s/%s container %q attempt %s", labels[LabelPodNamespace], labels[LabelPodName], labels[LabelContainerName], labels[LabelAttempt])
}

// StopContainer sends SIGTERM and, if the container is still running after
// grace, SIGKILL; it returns once the container has exited. Stopping a
// container that is not running succeeds.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	task, err := r.loadTask(ctx, id)
	if err != nil || task == nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: SIGTERM: %w", id, err)
		}
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
		case <-ctx.Done():
			return fmt.Errorf("stop container %s: %w", id, ctx.Err())
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: SIGKILL: %w", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: waiting for exit after SIGKILL: %w", id, ctx.Err())
	}
}

// loadTask returns the container's task, nil when it has none.
func (r *Runtime) loadTask(ctx context.Context, id string) (containerd.Task, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: task: %w", id, err)
	}
	return task, nil
}

// RemoveContainer kills the container if needed and deletes its task,
// container and snapshot; its log file stays for `logs --previous` until
// RemovePod. Removing a missing container succeeds.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		r.untrackStreams(id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		var fifos string
		if cfg := task.IO(); cfg != nil {
			fifos = cfg.Config().Stdout
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
		r.untrackStreams(id)
		r.removeFIFOs(fifos)
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("remove container %s: task: %w", id, err)
	default:
		r.untrackStreams(id)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// removeFIFOs deletes the FIFO directory of a task, if it is one of ours.
func (r *Runtime) removeFIFOs(stdoutFIFO string) {
	if stdoutFIFO == "" {
		return
	}
	dir := filepath.Dir(stdoutFIFO)
	if filepath.Dir(dir) == fifoDir(r.cfg.DataDir) {
		os.RemoveAll(dir)
	}
}

// RemovePod removes every container of pod podUID and its files (logs,
// hostname file).
func (r *Runtime) RemovePod(ctx context.Context, podUID string) error {
	list, err := r.listContainers(ctx, podUID)
	if err != nil {
		return err
	}
	for _, c := range list {
		if err := r.RemoveContainer(ctx, c.ID()); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(r.podDir(podUID)); err != nil {
		return fmt.Errorf("remove pod %s files: %w", podUID, err)
	}
	return nil
}

// ContainerStatus reports the state of container id.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (ContainerStatus, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", id, err)
	}
	return r.status(ctx, c)
}

func (r *Runtime) status(ctx context.Context, c containerd.Container) (ContainerStatus, error) {
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	l := info.Labels
	if l[LabelPodUID] == "" {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", c.ID(), errNotSkiff)
	}
	attempt, _ := strconv.Atoi(l[LabelAttempt])
	st := ContainerStatus{
		ID: c.ID(), PodUID: l[LabelPodUID], PodNamespace: l[LabelPodNamespace], PodName: l[LabelPodName],
		Name: l[LabelContainerName], Attempt: attempt, Image: info.Image,
		State: StateCreated,
	}
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, l[labelStartedAt])
	st.ImageID = l[labelImageID]
	if st.ImageID == "" { // created before the label existed
		if img, err := r.client.GetImage(ctx, info.Image); err == nil {
			st.ImageID = img.Target().Digest.String()
		}
	}
	// One Get answers what Task and Task.Status would ask in two calls.
	resp, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: c.ID()})
	if err != nil {
		if err = errdefs.FromGRPC(err); errdefs.IsNotFound(err) {
			return st, nil
		}
		return ContainerStatus{}, fmt.Errorf("container %s: task status: %w", c.ID(), err)
	}
	switch p := resp.Process; p.Status {
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		st.State = StateRunning
	case tasktypes.Status_CREATED:
		st.State = StateCreated
	case tasktypes.Status_STOPPED:
		st.State = StateExited
		st.ExitCode = int32(p.ExitStatus)
		st.FinishedAt = protobuf.FromTimestamp(p.ExitedAt)
		st.Reason = exitReason(st.ExitCode, l[labelOOMKilled] == "true")
	default:
		st.State = StateUnknown
	}
	return st, nil
}

func exitReason(code int32, oomKilled bool) string {
	switch {
	case oomKilled:
		return ReasonOOMKilled
	case code == 0:
		return ReasonCompleted
	default:
		return ReasonError
	}
}

// WaitContainer returns a channel that receives the container's exit once
// (immediately if it has exited already). The agent uses it to apply
// restartPolicy without polling.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (<-chan Exit, error) {
	ctx = r.ns(ctx)
	task, err := r.loadTask(ctx, id)
	if err != nil {
		return nil, err
	}
	if task == nil {
		return nil, fmt.Errorf("wait for container %s: it does not exist or has not been started: %w", id, ErrNotFound)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for container %s: %w", id, err)
	}
	out := make(chan Exit, 1)
	go func() {
		defer close(out)
		select {
		case es, ok := <-ch:
			if !ok {
				out <- Exit{Err: fmt.Errorf("wait for container %s: %w", id, ctx.Err())}
				return
			}
			r.waitDrained(ctx, id)
			out <- Exit{Code: int32(es.ExitCode()), At: es.ExitTime(), Err: es.Error()}
		case <-ctx.Done():
			out <- Exit{Err: fmt.Errorf("wait for container %s: %w", id, ctx.Err())}
		}
	}()
	return out, nil
}

// listContainers returns skiff's containers, of one pod when podUID is set.
func (r *Runtime) listContainers(ctx context.Context, podUID string) ([]containerd.Container, error) {
	filter := fmt.Sprintf("labels.%q", LabelPodUID)
	if podUID != "" {
		filter = fmt.Sprintf("labels.%q==%s", LabelPodUID, strconvQuoteFilter(podUID))
	}
	list, err := r.client.Containers(r.ns(ctx), filter)
	if err != nil {
		return nil, fmt.Errorf("list containers in namespace %s: %w", r.cfg.Namespace, err)
	}
	return list, nil
}

// strconvQuoteFilter quotes a filter value containing characters the
// containerd filter syntax treats specially.
func strconvQuoteFilter(v string) string {
	if strings.ContainsAny(v, `,"=!~ `) {
		return strconv.Quote(v)
	}
	return v
}

// ListContainers returns every container of every pod in the runtime's
// namespace, so an agent that restarted adopts running containers instead
// of starting duplicates. It resumes copying the output of running
// containers whose log copier belonged to a previous Runtime.
func (r *Runtime) ListContainers(ctx context.Context) ([]ContainerStatus, error) {
	ctx = r.ns(ctx)
	list, err := r.listContainers(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]ContainerStatus, 0, len(list))
	for _, c := range list {
		st, err := r.status(ctx, c)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if st.State == StateRunning {
			if err := r.reattach(ctx, c); err != nil {
				r.log.Warn("resume container logs", "container", c.ID(), "err", err)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// reattach resumes copying a running container's output to its log file
// from the FIFOs the shim keeps open.
func (r *Runtime) reattach(ctx context.Context, c containerd.Container) error {
	r.mu.Lock()
	_, attached := r.streams[c.ID()]
	r.mu.Unlock()
	if attached {
		return nil
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return err
	}
	logs, err := openLogFile(labels[labelLogPath])
	if err != nil {
		return err
	}
	stdout := &streamWriter{file: logs, stream: "stdout"}
	stderr := &streamWriter{file: logs, stream: "stderr"}
	task, err := c.Task(ctx, cio.NewAttach(cio.WithStreams(nil, stdout, stderr)))
	if err != nil {
		logs.Close()
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil
		}
		return err
	}
	r.trackStreams(c.ID(), task.IO(), logs, stdout, stderr)
	return nil
}
