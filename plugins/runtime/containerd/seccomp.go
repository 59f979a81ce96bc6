package containerd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	sdkruntime "github.com/skiff-sh/skiff/sdk/runtime"
)

// seccompSpecOpts is the seccomp filter of a container, as containerd's CRI
// sets it: none for privileged or unconfined containers, containerd's
// default profile for RuntimeDefault, and the agent's checked profile for
// Localhost. It must run after the capabilities are final: the default
// profile allows the system calls of the capabilities the process has.
func seccompSpecOpts(sec SecurityContext) ([]oci.SpecOpts, error) {
	p := sec.Seccomp
	if err := p.Check(); err != nil {
		return nil, err
	}
	switch {
	case sec.Privileged:
		return nil, nil
	case p.Type == sdkruntime.SeccompRuntimeDefault:
		return []oci.SpecOpts{seccomp.WithDefaultProfile()}, nil
	case p.Type == sdkruntime.SeccompLocalhost:
		profile := new(specs.LinuxSeccomp)
		if err := json.Unmarshal(p.LocalhostProfile, profile); err != nil {
			return nil, fmt.Errorf("seccomp: Localhost profile %s: not an OCI seccomp profile in JSON: %w", p.LocalhostPath, err)
		}
		return []oci.SpecOpts{func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			if s.Linux == nil {
				s.Linux = &specs.Linux{}
			}
			s.Linux.Seccomp = profile
			return nil
		}}, nil
	}
	return nil, nil // unset or Unconfined
}
