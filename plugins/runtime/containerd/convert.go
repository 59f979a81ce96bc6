package containerd

import (
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
)

// SpecFromAPI turns a pod's container into the runtime's spec for one
// attempt. Env values must be resolved (the agent replaces valueFrom with
// values) and mounts carry the host paths the agent materialised for the
// container's volumeMounts.
func SpecFromAPI(c *api.Container, attempt int, mounts []Mount) (ContainerSpec, error) {
	spec := ContainerSpec{
		Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args,
		WorkingDir: c.WorkingDir, TTY: c.TTY, Mounts: mounts, Attempt: attempt,
	}
	for i, e := range c.Env {
		if e.Name == "" {
			return ContainerSpec{}, fmt.Errorf("container %q: env[%d]: name is empty", c.Name, i)
		}
		if e.ValueFrom != nil && e.Value == "" {
			return ContainerSpec{}, fmt.Errorf("container %q: env[%d] %q: valueFrom must be resolved to a value by the agent before the runtime runs the container", c.Name, i, e.Name)
		}
		spec.Env = append(spec.Env, EnvVar{Name: e.Name, Value: e.Value})
	}
	if q, ok := c.Resources.Requests["cpu"]; ok {
		spec.CPURequestMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits["cpu"]; ok {
		if q.MilliValue() <= 0 {
			return ContainerSpec{}, fmt.Errorf("container %q: resources.limits.cpu: must be > 0, got %s", c.Name, q.String())
		}
		spec.CPULimitMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits["memory"]; ok {
		if q.Value() <= 0 {
			return ContainerSpec{}, fmt.Errorf("container %q: resources.limits.memory: must be > 0, got %s", c.Name, q.String())
		}
		spec.MemoryLimitBytes = q.Value()
	}
	return spec, nil
}
