// Package sim is a simulated runtime.v1: containers are records in memory
// that run until told otherwise, images are always present, and nothing
// touches the host. One process can host thousands of simulated nodes
// (kubemark-like) to test the control plane at scale, and tests of the node
// agent use its fault injection (Exit, FailPulls) to drive restarts,
// crash-loop backoff and image pull errors without root.
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/sdk/runtime"
)

// Name is the runtime's name in skiffd's configuration (agent.runtime).
const Name = "sim"

// Runtime is a simulated container runtime. It is safe for concurrent use.
type Runtime struct {
	mu          sync.Mutex
	containers  map[string]*container
	failPulls   map[string]string // image ref -> registry message
	exitOnStart map[string]int32  // container name -> exit code right after start
	imageUsers  map[string]string // image ref -> the USER its config declares
	waiters     map[string][]chan runtime.Exit
}

type container struct {
	status runtime.ContainerStatus
	spec   runtime.ContainerSpec
	log    []string
}

var (
	_ runtime.Plugin        = (*Runtime)(nil)
	_ runtime.ImageImporter = (*Runtime)(nil)
	_ runtime.ExitWaiter    = (*Runtime)(nil)
)

// New returns an empty simulated runtime.
func New() *Runtime {
	return &Runtime{
		containers:  map[string]*container{},
		failPulls:   map[string]string{},
		exitOnStart: map[string]int32{},
		imageUsers:  map[string]string{},
		waiters:     map[string][]chan runtime.Exit{},
	}
}

// FailPulls makes EnsureImage of ref fail with message, as a registry would.
func (r *Runtime) FailPulls(ref, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failPulls[ref] = message
}

// SetImageUser makes image ref declare USER user (empty: root), which
// EnsureImage reports and runAsNonRoot is checked against.
func (r *Runtime) SetImageUser(ref, user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.imageUsers[ref] = user
}

// ExitOnStart makes every container named name exit with code as soon as it
// starts, the way a bad command does.
func (r *Runtime) ExitOnStart(name string, code int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exitOnStart[name] = code
}

// Exit ends running container id with code, as if its process died.
func (r *Runtime) Exit(id string, code int32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("sim: container %s: %w", id, runtime.ErrNotFound)
	}
	r.exitLocked(c, code)
	return nil
}

func (r *Runtime) exitLocked(c *container, code int32) {
	if c.status.State != runtime.StateRunning {
		return
	}
	now := time.Now()
	c.status.State, c.status.ExitCode, c.status.FinishedAt = runtime.StateExited, code, now
	c.status.Reason = runtime.ReasonCompleted
	if code != 0 {
		c.status.Reason = runtime.ReasonError
	}
	c.log = append(c.log, fmt.Sprintf("sim: exited with code %d", code))
	for _, w := range r.waiters[c.status.ID] {
		w <- runtime.Exit{Code: code, At: now}
		close(w)
	}
	delete(r.waiters, c.status.ID)
}

// Info implements runtime.Plugin.
func (r *Runtime) Info(context.Context) (string, string, error) { return Name, "1", nil }

// EnsureImage implements runtime.Plugin: every image is present unless
// FailPulls named it.
func (r *Runtime) EnsureImage(_ context.Context, ref string, policy runtime.PullPolicy) (runtime.Image, error) {
	r.mu.Lock()
	msg, fail := r.failPulls[ref]
	user := r.imageUsers[ref]
	r.mu.Unlock()
	if fail {
		if policy == runtime.PullNever {
			return runtime.Image{}, runtime.ErrImageNeverPull
		}
		return runtime.Image{}, &runtime.PullError{Ref: ref, Message: msg}
	}
	return runtime.Image{Ref: ref, ID: "sha256:" + digest(ref), User: user}, nil
}

// ImportImage implements runtime.ImageImporter by discarding the archive.
func (r *Runtime) ImportImage(_ context.Context, archive io.Reader) ([]runtime.Image, error) {
	n, err := io.Copy(io.Discard, archive)
	if err != nil {
		return nil, fmt.Errorf("sim: import image: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("sim: import image: the archive is empty")
	}
	return nil, nil
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ContainerID is the deterministic ID of an attempt, as the real runtime's.
func ContainerID(podUID, name string, attempt int) string {
	return digest(podUID + "/" + name + "/" + strconv.Itoa(attempt))[:32]
}

// CreateContainer implements runtime.Plugin. It refuses what a real
// runtime refuses on its own (runAsNonRoot with a root image user, a
// seccomp profile it cannot apply) and keeps the spec, with the resolved
// security settings and seccomp profile, for Spec.
func (r *Runtime) CreateContainer(_ context.Context, pod runtime.Pod, c runtime.ContainerSpec) (string, error) {
	if pod.UID == "" || c.Name == "" {
		return "", fmt.Errorf("sim: create container in pod %s/%s: pod uid and container name are required", pod.Namespace, pod.Name)
	}
	id := ContainerID(pod.UID, c.Name, c.Attempt)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := runtime.CheckRunAsNonRoot(c.Security, r.imageUsers[c.Image]); err != nil {
		return "", fmt.Errorf("sim: create container %q in pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
	}
	if err := c.Security.Seccomp.Check(); err != nil {
		return "", fmt.Errorf("sim: create container %q in pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
	}
	if _, ok := r.containers[id]; ok {
		return "", fmt.Errorf("sim: container %s (pod %s/%s %q attempt %d) already exists", id, pod.Namespace, pod.Name, c.Name, c.Attempt)
	}
	r.containers[id] = &container{status: runtime.ContainerStatus{
		ID: id, PodUID: pod.UID, PodNamespace: pod.Namespace, PodName: pod.Name, Name: c.Name,
		Attempt: c.Attempt, Image: c.Image, ImageID: "sha256:" + digest(c.Image), State: runtime.StateCreated,
	}, spec: c}
	return id, nil
}

// Spec is the spec container id was created with, as the agent resolved
// it (env, mounts, security settings).
func (r *Runtime) Spec(id string) (runtime.ContainerSpec, error) {
	c, err := r.snapshot(id)
	return c.spec, err
}

// snapshot is a copy of container id's record.
func (r *Runtime) snapshot(id string) (container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return container{}, fmt.Errorf("sim: container %s: %w", id, runtime.ErrNotFound)
	}
	return *c, nil
}

// StartContainer implements runtime.Plugin.
func (r *Runtime) StartContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("sim: start container %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State != runtime.StateCreated {
		return fmt.Errorf("sim: start container %s: it is %s, not created", id, c.status.State)
	}
	c.status.State, c.status.StartedAt = runtime.StateRunning, time.Now()
	c.log = append(c.log, "sim: started "+strings.Join([]string{c.status.PodNamespace, c.status.PodName, c.status.Name}, "/"))
	if code, ok := r.exitOnStart[c.status.Name]; ok {
		r.exitLocked(c, code)
	}
	return nil
}

// StopContainer implements runtime.Plugin: the simulated process obeys
// SIGTERM at once (exit code 143).
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.containers[id]; ok {
		r.exitLocked(c, 143)
	}
	return nil
}

// RemoveContainer implements runtime.Plugin.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.containers[id]; ok {
		r.exitLocked(c, 137)
		delete(r.containers, id)
	}
	return nil
}

// RemovePod implements runtime.Plugin.
func (r *Runtime) RemovePod(_ context.Context, podUID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.containers {
		if c.status.PodUID == podUID {
			r.exitLocked(c, 137)
			delete(r.containers, id)
		}
	}
	return nil
}

// ContainerStatus implements runtime.Plugin.
func (r *Runtime) ContainerStatus(_ context.Context, id string) (runtime.ContainerStatus, error) {
	c, err := r.snapshot(id)
	return c.status, err
}

// ListContainers implements runtime.Plugin, ordered by pod, name and attempt.
func (r *Runtime) ListContainers(context.Context) ([]runtime.ContainerStatus, error) {
	r.mu.Lock()
	out := make([]runtime.ContainerStatus, 0, len(r.containers))
	for _, c := range r.containers {
		out = append(out, c.status)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PodUID != b.PodUID {
			return a.PodUID < b.PodUID
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Attempt < b.Attempt
	})
	return out, nil
}

// Logs implements runtime.Plugin with the lines the simulation wrote
// (start and exit); Follow returns at once.
func (r *Runtime) Logs(_ context.Context, podUID, name string, opts runtime.LogOptions, w io.Writer) error {
	r.mu.Lock()
	var attempts []*container
	for _, c := range r.containers {
		if c.status.PodUID == podUID && c.status.Name == name {
			attempts = append(attempts, c)
		}
	}
	sort.Slice(attempts, func(i, j int) bool { return attempts[i].status.Attempt < attempts[j].status.Attempt })
	pick := len(attempts) - 1
	if opts.Previous {
		pick--
	}
	var lines []string
	if pick >= 0 {
		lines = append(lines, attempts[pick].log...)
	}
	r.mu.Unlock()
	if pick < 0 {
		return fmt.Errorf("sim: logs of pod %s container %q: no such run: %w", podUID, name, runtime.ErrNotFound)
	}
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// Exec implements runtime.Plugin: the command is echoed to Stdout and
// succeeds when the container runs.
func (r *Runtime) Exec(_ context.Context, id string, opts runtime.ExecOptions) (int32, error) {
	st, err := r.ContainerStatus(context.Background(), id)
	if err != nil {
		return -1, err
	}
	if st.State != runtime.StateRunning {
		return -1, fmt.Errorf("sim: exec in container %s: container is not running", id)
	}
	if opts.Stdout != nil {
		fmt.Fprintln(opts.Stdout, strings.Join(opts.Command, " "))
	}
	return 0, nil
}

// WaitContainer implements runtime.ExitWaiter.
func (r *Runtime) WaitContainer(_ context.Context, id string) (<-chan runtime.Exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("sim: wait for container %s: %w", id, runtime.ErrNotFound)
	}
	ch := make(chan runtime.Exit, 1)
	if c.status.State == runtime.StateExited {
		ch <- runtime.Exit{Code: c.status.ExitCode, At: c.status.FinishedAt}
		close(ch)
		return ch, nil
	}
	r.waiters[id] = append(r.waiters[id], ch)
	return ch, nil
}
