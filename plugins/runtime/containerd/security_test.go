package containerd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/skiff-sh/skiff/core/api"
	sdkruntime "github.com/skiff-sh/skiff/sdk/runtime"
	"github.com/skiff-sh/skiff/test/images"
)

// runScript runs script with sh in busybox under sec and returns what it
// printed once it exited.
func runScript(t *testing.T, rt *Runtime, name, image string, sec SecurityContext, mounts []Mount, script string) string {
	t.Helper()
	pod := testPod(name)
	c := api.Container{Name: "c", Image: image, Command: []string{"sh", "-c", script}}
	spec, err := SpecFromAPI(&c, 0, mounts)
	if err != nil {
		t.Fatal(err)
	}
	spec.Security = sec
	id, err := rt.CreateContainer(context.Background(), pod, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if ex := waitExit(t, rt, id); ex.Code != 0 {
		t.Fatalf("%s exited %d: %s", name, ex.Code, readLogs(t, rt, pod, "c", LogOptions{}))
	}
	return readLogs(t, rt, pod, "c", LogOptions{})
}

func id64(v int64) *int64 { return &v }

// capEff is the effective capability mask in a /proc/<pid>/status text.
func capEff(t *testing.T, status string) uint64 {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapEff %q: %v", v, err)
			}
			return mask
		}
	}
	t.Fatalf("no CapEff in %q", status)
	return 0
}

// Capability numbers from capabilities(7).
const (
	capChown          = 0
	capNetBindService = 10
	capNetRaw         = 13
	capSysAdmin       = 21
)

func TestSecurityContextUserAndGroups(t *testing.T) {
	e := startRuntime(t)
	const script = "id -u; id -g; id -G"
	tests := []struct {
		name string
		sec  SecurityContext
		want string // id -G as the kernel keeps groups: the primary, then sorted
	}{
		{name: "image user", want: "0\n0\n0\n"},
		{name: "run as user and group, supplemental groups", sec: SecurityContext{RunAsUser: id64(1000), RunAsGroup: id64(3000), SupplementalGroups: []int64{4000, 2000}},
			want: "1000\n3000\n3000 2000 4000\n"},
		// No /etc/passwd entry for 1000: the primary group is 0, as in Kubernetes.
		{name: "run as user only", sec: SecurityContext{RunAsUser: id64(1000)}, want: "1000\n0\n0\n"},
		{name: "run as group only keeps the image user", sec: SecurityContext{RunAsGroup: id64(3000)}, want: "0\n3000\n3000\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runScript(t, e.rt, "ids", images.BusyboxRef, tt.sec, nil, script); got != tt.want {
				t.Fatalf("id -u; id -g; id -G printed %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadOnlyRootFilesystemKeepsVolumesWritable(t *testing.T) {
	e := startRuntime(t)
	volume := t.TempDir()
	mounts := []Mount{{HostPath: volume, ContainerPath: "/data"}}
	const script = "touch /written 2>/dev/null && echo root writable || echo root read-only; echo hi > /data/f && echo volume writable"
	if got := runScript(t, e.rt, "ro", images.BusyboxRef, SecurityContext{ReadOnlyRootFilesystem: true}, mounts, script); got != "root read-only\nvolume writable\n" {
		t.Fatalf("read-only rootfs: %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(volume, "f")); err != nil || string(b) != "hi\n" {
		t.Fatalf("the volume did not receive the write: %q, %v", b, err)
	}
	if got := runScript(t, e.rt, "rw", images.BusyboxRef, SecurityContext{}, mounts, script); got != "root writable\nvolume writable\n" {
		t.Fatalf("default rootfs: %q", got)
	}
}

func TestNoNewPrivilegesAndCapabilities(t *testing.T) {
	e := startRuntime(t)
	const script = "cat /proc/self/status"
	status := func(name string, sec SecurityContext) string {
		t.Helper()
		return runScript(t, e.rt, name, images.BusyboxRef, sec, nil, script)
	}
	noNewPrivs := func(s string) string {
		for _, line := range strings.Split(s, "\n") {
			if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
				return strings.TrimSpace(v)
			}
		}
		return "missing"
	}
	bit := func(mask uint64, n int) bool { return mask&(1<<n) != 0 }

	def := status("default", SecurityContext{})
	if noNewPrivs(def) != "0" {
		t.Fatalf("default NoNewPrivs = %s, want 0", noNewPrivs(def))
	}
	defCaps := capEff(t, def)
	if !bit(defCaps, capNetRaw) || !bit(defCaps, capChown) || bit(defCaps, capSysAdmin) {
		t.Fatalf("default CapEff %#x: want NET_RAW and CHOWN without SYS_ADMIN", defCaps)
	}

	if s := status("nnp", SecurityContext{NoNewPrivileges: true}); noNewPrivs(s) != "1" {
		t.Fatalf("allowPrivilegeEscalation false: NoNewPrivs = %s, want 1", noNewPrivs(s))
	}
	dropped := capEff(t, status("drop", SecurityContext{CapabilitiesDrop: []string{"CAP_NET_RAW"}, CapabilitiesAdd: []string{"CAP_SYS_ADMIN"}}))
	if want := defCaps&^(1<<capNetRaw) | 1<<capSysAdmin; dropped != want {
		t.Fatalf("drop NET_RAW add SYS_ADMIN: CapEff %#x, want %#x", dropped, want)
	}
	if only := capEff(t, status("only", SecurityContext{CapabilitiesDrop: []string{"ALL"}, CapabilitiesAdd: []string{"CAP_NET_BIND_SERVICE"}})); only != 1<<capNetBindService {
		t.Fatalf("drop ALL add NET_BIND_SERVICE: CapEff %#x, want only NET_BIND_SERVICE", only)
	}

	// Privileged: every capability the host has, the host's devices, and
	// the capability lists do not apply.
	host, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	priv := runScript(t, e.rt, "priv", images.BusyboxRef, SecurityContext{Privileged: true, CapabilitiesDrop: []string{"ALL"}}, nil,
		"grep CapEff /proc/self/status; test -c /dev/kmsg && echo host devices")
	if got, want := capEff(t, priv), capEff(t, string(host)); got != want {
		t.Fatalf("privileged CapEff %#x, want the host's %#x", got, want)
	}
	if !strings.Contains(priv, "host devices") {
		t.Fatalf("privileged container lacks the host's /dev/kmsg: %q", priv)
	}
}

// The runtime refuses runAsNonRoot for an image that runs as root by
// itself, as the agent does before asking it, and reports a named USER.
func TestRunAsNonRootAndImageUser(t *testing.T) {
	e := startRuntime(t)
	ctx := context.Background()
	bb, err := images.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := bb.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	named := cfg.Config
	named.User = "nobody"
	img, err := mutate.Config(bb, named)
	if err != nil {
		t.Fatal(err)
	}
	const ref = "skiff.local/test/busybox-nobody:1"
	archive := filepath.Join(t.TempDir(), "nobody.tar")
	if err := images.WriteTarball(archive, ref, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.rt.ImportImage(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{ref: "nobody", images.BusyboxRef: ""} {
		got, err := e.rt.EnsureImage(ctx, ref, PullNever)
		if err != nil || got.User != want {
			t.Fatalf("EnsureImage(%s).User = %q, %v; want %q", ref, got.User, err, want)
		}
	}

	// The image's named user resolves through its /etc/passwd; runAsGroup
	// replaces only its group.
	if got := runScript(t, e.rt, "nobody", ref, SecurityContext{RunAsGroup: id64(3000)}, nil, "id -u; id -g"); got != "65534\n3000\n" {
		t.Fatalf("image user nobody with runAsGroup 3000: %q", got)
	}

	pod := testPod("nonroot")
	spec, err := SpecFromAPI(&api.Container{Name: "c", Image: images.BusyboxRef, Command: []string{"true"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec.Security = SecurityContext{RunAsNonRoot: true}
	_, err = e.rt.CreateContainer(ctx, pod, spec)
	if !errors.Is(err, sdkruntime.ErrRunAsNonRoot) || !strings.Contains(err.Error(), "container has runAsNonRoot and image will run as root") {
		t.Fatalf("runAsNonRoot on a root image: err = %v", err)
	}
	list, err := e.rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(list, func(s ContainerStatus) bool { return s.PodUID == pod.UID }) {
		t.Fatal("a refused container was created")
	}
	spec.Security.RunAsUser = id64(1000)
	if _, err := e.rt.CreateContainer(ctx, pod, spec); err != nil {
		t.Fatalf("runAsNonRoot with runAsUser 1000: %v", err)
	}
}

func TestSecuritySpecOpts(t *testing.T) {
	if n := len(securitySpecOpts(SecurityContext{})); n != 1 {
		t.Fatalf("the zero SecurityContext adds %d spec options, want one (clear no_new_privs)", n)
	}
	// Privileged ignores the capability lists and no_new_privs, as the CRI.
	if n := len(securitySpecOpts(SecurityContext{Privileged: true, NoNewPrivileges: true, CapabilitiesDrop: []string{"ALL"}})); n != 4 {
		t.Fatalf("privileged: %d options, want privileged, host devices, all devices allowed, new privileges", n)
	}
}
