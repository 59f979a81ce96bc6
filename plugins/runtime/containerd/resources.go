package containerd

import (
	"context"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// cgroupResourcesFor maps CPU millicores and memory bytes to cgroup
// settings the way the kubelet does: shares = request * 1024 / 1000 (at
// least 2; the limit stands in for a missing request), quota = limit *
// period / 1000 (at least 1 ms), memory limit as is. 0 means unset.
func cgroupResourcesFor(cpuRequestMilli, cpuLimitMilli, memoryLimitBytes int64) cgroupResources {
	out := cgroupResources{cpuShares: 2, memoryLimit: max(memoryLimitBytes, 0)}
	if cpuRequestMilli <= 0 {
		cpuRequestMilli = cpuLimitMilli
	}
	if cpuRequestMilli > 0 {
		out.cpuShares = max(uint64(cpuRequestMilli)*1024/1000, 2)
	}
	if cpuLimitMilli > 0 {
		out.cpuQuota = max(cpuLimitMilli*cpuPeriod/1000, 1000)
	}
	return out
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
