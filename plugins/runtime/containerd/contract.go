package containerd

import (
	"context"

	sdkruntime "github.com/skiff-sh/skiff/sdk/runtime"
)

// The runtime speaks the runtime.v1 contract with the sdk's own types.
type (
	Pod             = sdkruntime.Pod
	ContainerSpec   = sdkruntime.ContainerSpec
	EnvVar          = sdkruntime.EnvVar
	Mount           = sdkruntime.Mount
	State           = sdkruntime.State
	ContainerStatus = sdkruntime.ContainerStatus
	Image           = sdkruntime.Image
	PullPolicy      = sdkruntime.PullPolicy
	PullError       = sdkruntime.PullError
	LogOptions      = sdkruntime.LogOptions
	ExecOptions     = sdkruntime.ExecOptions
	TerminalSize    = sdkruntime.TerminalSize
	Exit            = sdkruntime.Exit
	SecurityContext = sdkruntime.SecurityContext
)

// Contract constants, re-exported for callers of this package.
const (
	PullAlways       = sdkruntime.PullAlways
	PullIfNotPresent = sdkruntime.PullIfNotPresent
	PullNever        = sdkruntime.PullNever

	StateCreated = sdkruntime.StateCreated
	StateRunning = sdkruntime.StateRunning
	StateExited  = sdkruntime.StateExited
	StateUnknown = sdkruntime.StateUnknown

	ReasonCompleted = sdkruntime.ReasonCompleted
	ReasonError     = sdkruntime.ReasonError
	ReasonOOMKilled = sdkruntime.ReasonOOMKilled
)

// Contract errors.
var (
	ErrImageNeverPull = sdkruntime.ErrImageNeverPull
	ErrNotFound       = sdkruntime.ErrNotFound
)

var (
	_ sdkruntime.Plugin        = (*Runtime)(nil)
	_ sdkruntime.ImageImporter = (*Runtime)(nil)
	_ sdkruntime.ExitWaiter    = (*Runtime)(nil)
)

// Info names the runtime and the daemon's version.
func (r *Runtime) Info(ctx context.Context) (string, string, error) {
	v, err := r.client.Version(ctx)
	if err != nil {
		return "", "", err
	}
	return "containerd", v.Version, nil
}
