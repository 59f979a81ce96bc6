// Package runtime is the runtime.v1 contract: run, stop and inspect a pod's
// containers. It is the one extension point that is inherently I/O, so it is
// offered to the builtin and process loaders only.
package runtime

import (
	"context"
	"io"
	"time"
)

// Container is one container of a pod to run.
type Container struct {
	Name       string            `json:"name"`
	Image      string            `json:"image"`
	Command    []string          `json:"command,omitempty"`
	Args       []string          `json:"args,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	// MilliCPU and MemoryBytes are limits (0 = none).
	MilliCPU    int64   `json:"milliCPU,omitempty"`
	MemoryBytes int64   `json:"memoryBytes,omitempty"`
	Mounts      []Mount `json:"mounts,omitempty"`
}

// Mount binds a host path into the container.
type Mount struct {
	HostPath      string `json:"hostPath"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// PodSpec is what the agent asks the runtime to run. NetNS is the network
// namespace path the network plugin prepared for the pod.
type PodSpec struct {
	UID        string      `json:"uid"`
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	NetNS      string      `json:"netns"`
	Containers []Container `json:"containers"`
}

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name       string    `json:"name"`
	ID         string    `json:"id,omitempty"`
	State      string    `json:"state"` // waiting, running or exited
	ExitCode   int32     `json:"exitCode,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Restarts   int32     `json:"restarts,omitempty"`
}

// ExecRequest runs a command in a running container.
type ExecRequest struct {
	PodUID    string    `json:"podUID"`
	Container string    `json:"container"`
	Command   []string  `json:"command"`
	TTY       bool      `json:"tty,omitempty"`
	Stdin     io.Reader `json:"-"`
	Stdout    io.Writer `json:"-"`
	Stderr    io.Writer `json:"-"`
}

// Plugin runs pods. Calls are idempotent: running a pod that runs, or
// stopping one that is gone, succeeds.
type Plugin interface {
	RunPod(ctx context.Context, pod PodSpec) error
	StopPod(ctx context.Context, uid string, grace time.Duration) error
	PodStatus(ctx context.Context, uid string) ([]ContainerStatus, error)
	// ListPods returns the UIDs of the pods the runtime knows.
	ListPods(ctx context.Context) ([]string, error)
	Logs(ctx context.Context, uid, container string, follow bool, w io.Writer) error
	Exec(ctx context.Context, req ExecRequest) (exitCode int32, err error)
}
