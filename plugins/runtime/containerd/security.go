package containerd

import (
	"context"
	"slices"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"

	"github.com/skiff-sh/skiff/core/api"
)

// securitySpecOpts turn a container's resolved security settings into OCI
// spec options, as containerd's CRI plugin does for the kubelet. They run
// after the image's user is set (withImageConfig), whose groups the
// supplemental groups extend.
func securitySpecOpts(sec SecurityContext) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if len(sec.SupplementalGroups) > 0 {
		opts = append(opts, withSupplementalGroups(sec.SupplementalGroups))
	}
	if sec.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if sec.Privileged {
		// Every capability and host device, no masked or read-only paths,
		// writable sysfs and cgroupfs, no AppArmor or seccomp. The
		// capability lists do not apply, as in the CRI.
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	} else if len(sec.CapabilitiesAdd) > 0 || len(sec.CapabilitiesDrop) > 0 {
		opts = append(opts, withCapabilityChanges(sec.CapabilitiesAdd, sec.CapabilitiesDrop))
	}
	// containerd's default spec sets no_new_privs; Kubernetes' default
	// (allowPrivilegeEscalation unset) is without it, so that setuid
	// binaries work, and the CRI clears it likewise.
	if sec.NoNewPrivileges && !sec.Privileged {
		opts = append(opts, oci.WithNoNewPrivileges)
	} else {
		opts = append(opts, oci.WithNewPrivileges)
	}
	return opts
}

// withCapabilityChanges edits the default capability set in the CRI's
// order: ALL added, ALL dropped, then the named additions, then the named
// drops; so drop [ALL] with add [NET_BIND_SERVICE] leaves that one alone.
// Names are "CAP_X" already (the agent normalises them).
func withCapabilityChanges(add, drop []string) oci.SpecOpts {
	var opts []oci.SpecOpts
	if slices.Contains(add, api.AllCapabilities) {
		// The agent runs as root: its own set is what the kernel has.
		opts = append(opts, oci.WithAllCurrentCapabilities)
	}
	if slices.Contains(drop, api.AllCapabilities) {
		opts = append(opts, oci.WithCapabilities(nil))
	}
	named := func(names []string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == api.AllCapabilities })
	}
	opts = append(opts, oci.WithAddedCapabilities(named(add)), oci.WithDroppedCapabilities(named(drop)))
	return oci.Compose(opts...)
}

// withSupplementalGroups adds groups to the process's, once each, without
// reading the rootfs (oci.WithAppendAdditionalGroups mounts it to look up
// names; these are ids).
func withSupplementalGroups(groups []int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, g := range groups {
			if gid := uint32(g); !slices.Contains(s.Process.User.AdditionalGids, gid) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gid)
			}
		}
		return nil
	}
}
