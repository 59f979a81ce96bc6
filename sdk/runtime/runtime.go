// Package runtime is the runtime.v1 contract: create, start, stop and inspect
// the containers of pods, read their logs and exec into them. It is the one
// extension point that is inherently I/O, so it is offered to the builtin and
// process loaders only.
//
// The contract is container-level on purpose: the node agent owns the pod
// lifecycle (init containers in order, restartPolicy, crash-loop backoff,
// probes) and asks the runtime for one container attempt at a time. Each
// attempt is a new container with its own ID and log, so `logs --previous`
// reads the attempt before the current one, and the runtime's labels let an
// agent that restarted find (adopt) every running attempt without local state.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Version is the contract's name in the plugin catalog.
const Version = "runtime.v1"

// PullPolicy is a container's imagePullPolicy.
type PullPolicy string

// The pull policies of Kubernetes.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// Pod is the sandbox a pod's containers share.
type Pod struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Hostname is the containers' UTS hostname (default Name).
	Hostname string `json:"hostname,omitempty"`
	// NetNSPath is the network namespace the network plugin prepared; empty
	// runs the containers in the host's network (hostNetwork pods).
	NetNSPath string `json:"netnsPath,omitempty"`
	// ResolvConfPath and HostsPath are bind-mounted read-only at
	// /etc/resolv.conf and /etc/hosts when set.
	ResolvConfPath string `json:"resolvConfPath,omitempty"`
	HostsPath      string `json:"hostsPath,omitempty"`
}

// EnvVar is one resolved environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Mount binds a host path the agent materialised (emptyDir, hostPath,
// configMap and secret volumes) into a container.
type Mount struct {
	HostPath      string `json:"hostPath"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// ContainerSpec is one attempt of a container, with everything resolved:
// env values, volume host paths and resource figures.
type ContainerSpec struct {
	Name       string   `json:"name"`
	Image      string   `json:"image"`
	Command    []string `json:"command,omitempty"`
	Args       []string `json:"args,omitempty"`
	Env        []EnvVar `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	TTY        bool     `json:"tty,omitempty"`
	Mounts     []Mount  `json:"mounts,omitempty"`
	// CPU in millicores and memory in bytes; 0 means unset.
	CPURequestMilli  int64 `json:"cpuRequestMilli,omitempty"`
	CPULimitMilli    int64 `json:"cpuLimitMilli,omitempty"`
	MemoryLimitBytes int64 `json:"memoryLimitBytes,omitempty"`
	// Attempt counts the container's restarts from 0; each attempt is a new
	// container with its own log.
	Attempt int `json:"attempt"`
	// Security is the container's effective security settings, the pod's
	// and the container's already merged; the zero value is the runtime's
	// defaults.
	Security SecurityContext `json:"security,omitzero"`
}

// State of a container attempt.
type State string

// Container states.
const (
	StateCreated State = "created" // created, never started (or its start failed)
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// Termination reasons, as Kubernetes reports them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// ContainerStatus is the observed state of one container attempt.
type ContainerStatus struct {
	ID           string `json:"id"`
	PodUID       string `json:"podUID"`
	PodNamespace string `json:"podNamespace"`
	PodName      string `json:"podName"`
	Name         string `json:"name"`
	Attempt      int    `json:"attempt"`
	Image        string `json:"image"`
	ImageID      string `json:"imageID,omitempty"`
	State        State  `json:"state"`
	ExitCode     int32  `json:"exitCode,omitempty"`
	// Reason is set once exited: Completed, Error or OOMKilled.
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// Image is an image present in the runtime.
type Image struct {
	// Ref is the normalised reference, e.g. docker.io/library/busybox:1.36.
	Ref string `json:"ref"`
	// ID is the digest of the image's manifest or index.
	ID string `json:"id"`
	// User is the image config's USER as written (user, uid, user:group
	// or uid:gid); empty runs as root. The agent checks runAsNonRoot
	// against it.
	User string `json:"user,omitempty"`
}

// ErrImageNeverPull is returned by EnsureImage for a missing image whose
// policy is Never (the agent reports ErrImageNeverPull).
var ErrImageNeverPull = errors.New("image is not present and the pull policy is Never")

// ErrNotFound is returned (wrapped) for a container or pod the runtime does
// not know.
var ErrNotFound = errors.New("not found")

// PullError is a failed pull; Message is the registry's or transport's own
// message, which the agent shows in ErrImagePull / ImagePullBackOff.
type PullError struct {
	Ref     string `json:"ref"`
	Message string `json:"message"`
}

func (e *PullError) Error() string { return fmt.Sprintf("pull image %q: %s", e.Ref, e.Message) }

// LogOptions select what Logs returns.
type LogOptions struct {
	// Tail is the number of last lines to return; <= 0 returns all.
	Tail int `json:"tail,omitempty"`
	// Follow keeps streaming new lines until the container exits or ctx ends.
	Follow bool `json:"follow,omitempty"`
	// Previous reads the attempt before the latest one (the crashed run).
	Previous bool `json:"previous,omitempty"`
	// Timestamps prefixes each line with its RFC 3339 time.
	Timestamps bool `json:"timestamps,omitempty"`
}

// TerminalSize is a TTY's size in characters.
type TerminalSize struct{ Width, Height uint32 }

// ExecOptions describe a process to run in a running container.
type ExecOptions struct {
	Command []string
	// TTY allocates a terminal; stderr is then merged into Stdout.
	TTY bool
	// Stdin, when set, is copied to the process; its EOF closes the
	// process's stdin.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Resize delivers terminal size changes (TTY only); may be nil.
	Resize <-chan TerminalSize
}

// Plugin runs containers. Calls are idempotent where the name says so:
// stopping or removing what is gone succeeds.
type Plugin interface {
	// Info names the runtime and its version, e.g. "containerd", "1.6.20".
	Info(ctx context.Context) (name, version string, err error)
	// EnsureImage makes ref present according to policy; a failed pull is
	// a *PullError, a missing image under PullNever is ErrImageNeverPull.
	EnsureImage(ctx context.Context, ref string, policy PullPolicy) (Image, error)
	// CreateContainer creates (but does not start) one attempt of a
	// container and returns its ID.
	CreateContainer(ctx context.Context, pod Pod, c ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM, then SIGKILL after grace, and returns
	// once the container has exited.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer deletes a container attempt; its log stays until
	// RemovePod.
	RemoveContainer(ctx context.Context, id string) error
	// RemovePod removes every container of the pod and its files.
	RemovePod(ctx context.Context, podUID string) error
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers returns every container attempt the runtime holds, so
	// an agent that restarted adopts them instead of starting duplicates.
	ListContainers(ctx context.Context) ([]ContainerStatus, error)
	Logs(ctx context.Context, podUID, container string, opts LogOptions, w io.Writer) error
	// Exec runs a process in a running container and returns its exit code.
	Exec(ctx context.Context, id string, opts ExecOptions) (int32, error)
}

// ImageImporter is an optional capability: load images from an OCI or
// docker-save tar archive (`skiff image import`).
type ImageImporter interface {
	ImportImage(ctx context.Context, archive io.Reader) ([]Image, error)
}

// Exit is how a container's process ended.
type Exit struct {
	Code int32
	At   time.Time
	Err  error
}

// ExitWaiter is an optional capability: deliver a container's exit as it
// happens, so the agent applies restartPolicy without waiting for its next
// periodic look.
type ExitWaiter interface {
	WaitContainer(ctx context.Context, id string) (<-chan Exit, error)
}
