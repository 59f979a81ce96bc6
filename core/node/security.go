package node

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// effectiveSecurity merges a pod's and a container's securityContext into
// what the runtime applies, as the kubelet does: the container's runAsUser,
// runAsGroup and runAsNonRoot win over the pod's; the pod's
// supplementalGroups and fsGroup are groups of every container; privileged
// containers never get no_new_privs. Capability names are normalised to the
// runtime's "CAP_X" form. The seccomp profile, which may need a file read,
// is resolved apart (effectiveSeccomp, resolveSeccomp).
func effectiveSecurity(pod *api.PodSecurityContext, c *api.SecurityContext) (runtime.SecurityContext, error) {
	var out runtime.SecurityContext
	if pod != nil {
		out.RunAsUser, out.RunAsGroup = copyID(pod.RunAsUser), copyID(pod.RunAsGroup)
		out.RunAsNonRoot = isTrue(pod.RunAsNonRoot)
		for _, g := range pod.SupplementalGroups {
			out.SupplementalGroups = appendGroup(out.SupplementalGroups, g)
		}
		if pod.FSGroup != nil {
			out.SupplementalGroups = appendGroup(out.SupplementalGroups, *pod.FSGroup)
		}
	}
	if c == nil {
		return out, nil
	}
	if c.RunAsUser != nil {
		out.RunAsUser = copyID(c.RunAsUser)
	}
	if c.RunAsGroup != nil {
		out.RunAsGroup = copyID(c.RunAsGroup)
	}
	if c.RunAsNonRoot != nil {
		out.RunAsNonRoot = *c.RunAsNonRoot
	}
	out.ReadOnlyRootFilesystem = isTrue(c.ReadOnlyRootFilesystem)
	out.Privileged = isTrue(c.Privileged)
	out.NoNewPrivileges = !out.Privileged && c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation
	if caps := c.Capabilities; caps != nil {
		var err error
		if out.CapabilitiesAdd, err = capabilityNames(caps.Add, "add"); err != nil {
			return runtime.SecurityContext{}, err
		}
		if out.CapabilitiesDrop, err = capabilityNames(caps.Drop, "drop"); err != nil {
			return runtime.SecurityContext{}, err
		}
	}
	return out, nil
}

func capabilityNames(names []string, list string) ([]string, error) {
	var out []string
	for i, name := range names {
		n, ok := api.CapabilityName(name)
		if !ok {
			return nil, fmt.Errorf("securityContext.capabilities.%s[%d]: %q is not a Linux capability (see capabilities(7))", list, i, name)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func appendGroup(groups []int64, g int64) []int64 {
	if slices.Contains(groups, g) {
		return groups
	}
	return append(groups, g)
}

func copyID(v *int64) *int64 {
	if v == nil {
		return nil
	}
	id := *v
	return &id
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkRunAsNonRoot refuses a container that asks for runAsNonRoot and
// would run as root, before the runtime creates it (the kubelet's check, so
// the pod shows CreateContainerConfigError). Only when the decision rests
// on the image's USER does it ask the runtime for the (present) image.
func (w *podWorker) checkRunAsNonRoot(ctx context.Context, pod *api.Pod, c *api.Container, sec runtime.SecurityContext) error {
	if !sec.RunAsNonRoot {
		return nil
	}
	imageUser := ""
	if sec.RunAsUser == nil {
		img, err := w.a.rt.EnsureImage(ctx, c.Image, runtime.PullNever)
		if err != nil {
			return fmt.Errorf("container %q: runAsNonRoot: read the user of image %q: %w", c.Name, c.Image, err)
		}
		imageUser = img.User
	}
	if err := runtime.CheckRunAsNonRoot(sec, imageUser); err != nil {
		return fmt.Errorf("%w (pod: \"%s_%s(%s)\", container: %s)", err, pod.Name, pod.Namespace, pod.UID, c.Name)
	}
	return nil
}

// File mode bits the kubelet gives fsGroup-owned volume content.
const (
	fsGroupRW   = fs.FileMode(0o660)
	fsGroupExec = fs.FileMode(0o110)
)

// applyFSGroup makes a volume's content group-owned by gid, group
// read-write, with directories searchable and setgid so that files created
// later inherit the group, as the kubelet's SetVolumeOwnership does.
// onRootMismatch (fsGroupChangePolicy: OnRootMismatch) skips the walk when
// the top directory is already so; Always re-owns everything, which also
// catches files a container created under another group.
func applyFSGroup(dir string, gid int64, onRootMismatch bool) error {
	if onRootMismatch {
		if ok, err := ownedByGroup(dir, gid); err != nil || ok {
			return err
		}
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(gid)); err != nil {
			return fmt.Errorf("fsGroup %d: chown %s: %w", gid, path, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode() | fsGroupRW
		if d.IsDir() {
			mode |= fsGroupExec | fs.ModeSetgid
		}
		if mode == info.Mode() {
			return nil
		}
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("fsGroup %d: chmod %s: %w", gid, path, err)
		}
		return nil
	})
}

// ownedByGroup reports whether dir already has gid, g+rwx and setgid.
func ownedByGroup(dir string, gid int64) (bool, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("fsGroup %d: %w", gid, err)
	}
	want := fsGroupRW | fsGroupExec | fs.ModeSetgid
	return fileGID(info) == gid && info.Mode()&want == want, nil
}

func fileGID(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Gid)
	}
	return -1
}
