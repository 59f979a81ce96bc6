package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// effectiveSeccomp is the seccompProfile a container runs with: its own,
// else the pod's. Privileged containers get none (unconfined): the CRI
// ignores their profile, so a privileged container never fails over a
// profile it would not use.
func effectiveSeccomp(pod *api.PodSecurityContext, c *api.SecurityContext) *api.SeccompProfile {
	switch {
	case c != nil && isTrue(c.Privileged):
		return nil
	case c != nil && c.SeccompProfile != nil:
		return c.SeccompProfile
	case pod != nil:
		return pod.SeccompProfile
	}
	return nil
}

// resolveSeccomp turns a seccompProfile into what the runtime applies.
// No profile and Unconfined are the zero value (the kubelet's default
// without the SeccompDefault feature); a Localhost profile is read from dir
// and checked here, so that a missing or broken file is the pod's
// configuration error, named, rather than a runtime failure.
func resolveSeccomp(dir string, p *api.SeccompProfile) (runtime.SeccompProfile, error) {
	if p == nil {
		return runtime.SeccompProfile{}, nil
	}
	switch p.Type {
	case api.SeccompProfileUnconfined:
		return runtime.SeccompProfile{}, nil
	case api.SeccompProfileRuntimeDefault:
		return runtime.SeccompProfile{Type: runtime.SeccompRuntimeDefault}, nil
	case api.SeccompProfileLocalhost:
		if p.LocalhostProfile == nil || !filepath.IsLocal(*p.LocalhostProfile) {
			return runtime.SeccompProfile{}, fmt.Errorf("seccompProfile.localhostProfile: must be a file name relative to the node's seccomp directory %s without '..', got %q",
				dir, deref(p.LocalhostProfile))
		}
		return loadSeccompProfile(filepath.Join(dir, *p.LocalhostProfile))
	}
	return runtime.SeccompProfile{}, fmt.Errorf("seccompProfile.type: %q is not a seccomp profile type: use RuntimeDefault, Unconfined or Localhost", p.Type)
}

// loadSeccompProfile reads and checks the OCI seccomp profile at path.
func loadSeccompProfile(path string) (runtime.SeccompProfile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return runtime.SeccompProfile{}, fmt.Errorf("seccomp profile %s does not exist: write it into the node's seccomp directory (agent.seccomp-dir) or fix localhostProfile", path)
	}
	if err != nil {
		return runtime.SeccompProfile{}, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	if err := checkSeccompProfile(data); err != nil {
		return runtime.SeccompProfile{}, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	return runtime.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostPath: path, LocalhostProfile: data}, nil
}

// seccompActions are the actions the OCI runtime spec (and runc) know.
var seccompActions = map[specs.LinuxSeccompAction]bool{
	specs.ActKill: true, specs.ActKillProcess: true, specs.ActKillThread: true, specs.ActTrap: true,
	specs.ActErrno: true, specs.ActTrace: true, specs.ActAllow: true, specs.ActLog: true, specs.ActNotify: true,
}

// checkSeccompProfile refuses what runc would only refuse when the
// container starts: a profile that is not an OCI LinuxSeccomp, lacks a
// defaultAction, or names an unknown action or no system call in a rule.
func checkSeccompProfile(data []byte) error {
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("not an OCI seccomp profile in JSON: %w", err)
	}
	if p.DefaultAction == "" {
		return errors.New("defaultAction is required, e.g. SCMP_ACT_ALLOW or SCMP_ACT_ERRNO")
	}
	if !seccompActions[p.DefaultAction] {
		return fmt.Errorf("defaultAction: unknown action %q", p.DefaultAction)
	}
	for i, sc := range p.Syscalls {
		if len(sc.Names) == 0 {
			return fmt.Errorf("syscalls[%d].names: at least one system call name is required", i)
		}
		if !seccompActions[sc.Action] {
			return fmt.Errorf("syscalls[%d].action: unknown action %q", i, sc.Action)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
