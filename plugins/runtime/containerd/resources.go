package containerd

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-sh/skiff/core/api"
)

// CFS period the CPU limit is expressed in, as the kubelet does.
const cpuPeriod = 100_000 // microseconds

// cgroupResources are the cgroup settings derived from a container's
// resources.
type cgroupResources struct {
	cpuShares   uint64 // relative weight from the CPU request
	cpuQuota    int64  // microseconds per cpuPeriod from the CPU limit; 0 = none
	memoryLimit int64  // bytes; 0 = none
}

// resourcesFor maps requests and limits to cgroup settings the way the
// kubelet does: shares = request millicores * 1024 / 1000 (at least 2, and
// the limit stands in for a missing request), quota = limit millicores *
// period / 1000 (at least 1 ms), memory limit as is.
func resourcesFor(r api.ResourceRequirements) (cgroupResources, error) {
	var out cgroupResources
	cpuRequest, hasRequest := r.Requests["cpu"]
	cpuLimit, hasLimit := r.Limits["cpu"]
	if !hasRequest && hasLimit {
		cpuRequest, hasRequest = cpuLimit, true
	}
	out.cpuShares = 2
	if hasRequest {
		out.cpuShares = max(uint64(cpuRequest.MilliValue())*1024/1000, 2)
	}
	if hasLimit {
		milli := cpuLimit.MilliValue()
		if milli <= 0 {
			return out, fmt.Errorf("limits.cpu: must be > 0, got %s", cpuLimit.String())
		}
		out.cpuQuota = max(milli*cpuPeriod/1000, 1000)
	}
	if mem, ok := r.Limits["memory"]; ok {
		if mem.Value() <= 0 {
			return out, fmt.Errorf("limits.memory: must be > 0, got %s", mem.String())
		}
		out.memoryLimit = mem.Value()
	}
	return out, nil
}

func withResources(res cgroupResources) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if s.Linux.Resources.CPU == nil {
			s.Linux.Resources.CPU = &specs.LinuxCPU{}
		}
		cpu := s.Linux.Resources.CPU
		shares := res.cpuShares
		cpu.Shares = &shares
		if res.cpuQuota > 0 {
			quota, period := res.cpuQuota, uint64(cpuPeriod)
			cpu.Quota, cpu.Period = &quota, &period
		}
		if res.memoryLimit > 0 {
			if s.Linux.Resources.Memory == nil {
				s.Linux.Resources.Memory = &specs.LinuxMemory{}
			}
			limit := res.memoryLimit
			s.Linux.Resources.Memory.Limit = &limit
		}
		return nil
	}
}
