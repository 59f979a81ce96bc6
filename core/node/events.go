package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// EventComponent is the source.component of the events the agent records
// (the kubelet's are "kubelet"); source.host is the node's name.
const EventComponent = "skiff-agent"

// Event reasons, as the kubelet words them, so that tooling written for
// Kubernetes events keeps working.
const (
	EventPulling   = "Pulling"
	EventPulled    = "Pulled"
	EventFailed    = "Failed"
	EventBackOff   = "BackOff"
	EventCreated   = "Created"
	EventStarted   = "Started"
	EventKilling   = "Killing"
	EventUnhealthy = "Unhealthy"
)

// ensureImage makes c's image present by its pull policy and records what
// happened: Pulling before a pull (so a slow pull shows), then Pulled, or
// Failed. An IfNotPresent image is looked up first without pulling, which
// is the only way to know beforehand whether a pull happens.
func (w *podWorker) ensureImage(ctx context.Context, pod *api.Pod, c *api.Container) (runtime.Image, error) {
	policy := pullPolicy(c)
	if policy != runtime.PullAlways {
		img, err := w.a.rt.EnsureImage(ctx, c.Image, runtime.PullNever)
		if err == nil {
			w.a.events.Eventf(pod, reconcile.EventNormal, EventPulled, "Container image %q already present on machine", c.Image)
			return img, nil
		}
		if policy == runtime.PullNever && errors.Is(err, runtime.ErrImageNeverPull) {
			w.a.events.Event(pod, reconcile.EventWarning, reasonErrImageNeverPull, imageError(c, err))
			return img, err
		}
		if !errors.Is(err, runtime.ErrImageNeverPull) {
			w.a.events.Eventf(pod, reconcile.EventWarning, EventFailed, "Error: %s", imageError(c, err))
			return img, err
		}
	}
	w.a.events.Eventf(pod, reconcile.EventNormal, EventPulling, "Pulling image %q", c.Image)
	start := time.Now()
	img, err := w.a.rt.EnsureImage(ctx, c.Image, policy)
	if err != nil {
		w.a.events.Eventf(pod, reconcile.EventWarning, EventFailed, "Failed to pull image %q: %s", c.Image, imageError(c, err))
		return img, err
	}
	w.a.events.Eventf(pod, reconcile.EventNormal, EventPulled, "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	return img, nil
}

// imageError is the message of a failed EnsureImage: the registry's own
// words for a pull, the kubelet's sentence for a missing Never image.
func imageError(c *api.Container, err error) string {
	var pullErr *runtime.PullError
	switch {
	case errors.Is(err, runtime.ErrImageNeverPull):
		return fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
	case errors.As(err, &pullErr):
		return pullErr.Message
	}
	return err.Error()
}

// probeKind names a probe in events: "Liveness", "Readiness", "Startup".
func probeKind(c *api.Container, p *api.Probe) string {
	switch p {
	case c.LivenessProbe:
		return "Liveness"
	case c.StartupProbe:
		return "Startup"
	}
	return "Readiness"
}
