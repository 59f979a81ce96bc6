package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SecurityContext is what a container runs as and how it is confined,
// resolved by the agent from the pod's and the container's securityContext
// (container values win). The zero value runs the image's USER with the
// runtime's default capabilities, a writable rootfs, privilege escalation
// allowed and no seccomp filter, as a container without a securityContext
// does.
type SecurityContext struct {
	// RunAsUser replaces the image's USER; nil keeps the image's.
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// RunAsGroup replaces the primary group (of the image's USER when
	// RunAsUser is nil); nil keeps the user's from the image's /etc/passwd,
	// or 0.
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`
	// RunAsNonRoot refuses to run the container as uid 0. The agent checks
	// it before CreateContainer (CheckRunAsNonRoot); a runtime refuses too
	// when the user it resolves is root.
	RunAsNonRoot bool `json:"runAsNonRoot,omitempty"`
	// SupplementalGroups are added to the groups the image's /etc/group
	// gives the user: the pod's supplementalGroups, then its fsGroup.
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
	// ReadOnlyRootFilesystem mounts the image's rootfs read-only; mounts
	// keep their own mode.
	ReadOnlyRootFilesystem bool `json:"readOnlyRootFilesystem,omitempty"`
	// NoNewPrivileges sets no_new_privs (allowPrivilegeEscalation: false).
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// Privileged gives every capability and host device and lifts the
	// runtime's masked and read-only paths and its confinement.
	Privileged bool `json:"privileged,omitempty"`
	// CapabilitiesAdd and CapabilitiesDrop change the runtime's default
	// capability set: "CAP_"-prefixed upper-case names, or "ALL". ALL is
	// applied first (add, then drop), then the named ones (add, then drop),
	// as containerd's CRI does, so drop [ALL] with add [NET_BIND_SERVICE]
	// leaves only that one.
	CapabilitiesAdd  []string `json:"capabilitiesAdd,omitempty"`
	CapabilitiesDrop []string `json:"capabilitiesDrop,omitempty"`
	// Seccomp is the system call filter. The agent leaves it zero
	// (unconfined) for privileged containers.
	Seccomp SeccompProfile `json:"seccomp,omitzero"`
}

// SeccompType is how a container's system calls are filtered.
type SeccompType string

// Seccomp profile types. The zero SeccompType is Unconfined.
const (
	SeccompUnconfined SeccompType = "Unconfined"
	// SeccompRuntimeDefault is the runtime's own default profile
	// (containerd's is Docker's default: it allows what ordinary programs
	// use and refuses mount, kexec, ptrace of others, ...).
	SeccompRuntimeDefault SeccompType = "RuntimeDefault"
	// SeccompLocalhost is a profile from a file on the node, which the
	// agent has read into SeccompProfile.LocalhostProfile.
	SeccompLocalhost SeccompType = "Localhost"
)

// SeccompProfile is a container's resolved seccomp profile.
type SeccompProfile struct {
	// Type is empty or Unconfined (no filter), RuntimeDefault or
	// Localhost.
	Type SeccompType `json:"type,omitempty"`
	// LocalhostPath is the absolute path of a Localhost profile's file on
	// the node, for messages; runtimes apply LocalhostProfile, not the file,
	// so that what the agent checked is what runs.
	LocalhostPath string `json:"localhostPath,omitempty"`
	// LocalhostProfile is a Localhost profile's content: an OCI
	// runtime-spec LinuxSeccomp in JSON (defaultAction, architectures,
	// syscalls), the format containerd and CRI-O read from the kubelet's
	// seccomp directory. The agent checks that it decodes and names known
	// actions.
	LocalhostProfile json.RawMessage `json:"localhostProfile,omitempty"`
}

// ErrRunAsNonRoot is wrapped by the errors CheckRunAsNonRoot returns.
var ErrRunAsNonRoot = errors.New("runAsNonRoot")

// nonRootError words a runAsNonRoot refusal as the kubelet does.
type nonRootError struct{ msg string }

func (e *nonRootError) Error() string        { return e.msg }
func (e *nonRootError) Is(target error) bool { return target == ErrRunAsNonRoot }

// CheckRunAsNonRoot is the kubelet's runAsNonRoot decision for a container
// with settings sc whose image declares USER imageUser: an explicit
// RunAsUser 0, an image without USER or with uid 0, and an image user given
// by name (which cannot be verified without the rootfs) are refused. The
// message is the kubelet's; callers append which pod and container.
func CheckRunAsNonRoot(sc SecurityContext, imageUser string) error {
	if !sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return &nonRootError{"container's runAsUser breaks non-root policy"}
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" {
		return &nonRootError{"container has runAsNonRoot and image will run as root"}
	}
	uid, err := strconv.ParseInt(user, 10, 64)
	switch {
	case err != nil:
		return &nonRootError{fmt.Sprintf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", user)}
	case uid == 0:
		return &nonRootError{"container has runAsNonRoot and image will run as root"}
	}
	return nil
}

// UserString is the OCI image-spec user ("uid", "uid:gid", "name:gid", ...)
// a container runs as: RunAsUser and RunAsGroup where set, the image's USER
// for the rest.
func (sc SecurityContext) UserString(imageUser string) string {
	user, group, _ := strings.Cut(imageUser, ":")
	if sc.RunAsUser != nil {
		user, group = strconv.FormatInt(*sc.RunAsUser, 10), ""
	}
	if sc.RunAsGroup != nil {
		group = strconv.FormatInt(*sc.RunAsGroup, 10)
	}
	switch {
	case group == "":
		return user
	case user == "":
		return "0:" + group
	}
	return user + ":" + group
}

// Check refuses a profile no runtime can apply: an unknown type, or a
// Localhost profile without content. Runtimes call it in CreateContainer.
func (p SeccompProfile) Check() error {
	switch p.Type {
	case "", SeccompUnconfined, SeccompRuntimeDefault:
		return nil
	case SeccompLocalhost:
		if len(p.LocalhostProfile) == 0 {
			return fmt.Errorf("seccomp: Localhost profile %s: no content: the agent passes the file's content in Security.Seccomp.LocalhostProfile", p.LocalhostPath)
		}
		return nil
	}
	return fmt.Errorf("seccomp: profile type %q: use RuntimeDefault, Unconfined or Localhost", p.Type)
}
