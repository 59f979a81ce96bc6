package node

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

func seccompOf(t api.SeccompProfileType) *api.SeccompProfile { return &api.SeccompProfile{Type: t} }

func localhostProfile(name string) *api.SeccompProfile {
	return &api.SeccompProfile{Type: api.SeccompProfileLocalhost, LocalhostProfile: &name}
}

func TestEffectiveSeccomp(t *testing.T) {
	runtimeDefault, unconfined := seccompOf(api.SeccompProfileRuntimeDefault), seccompOf(api.SeccompProfileUnconfined)
	local := localhostProfile("deny.json")
	podDefault := &api.PodSecurityContext{SeccompProfile: runtimeDefault}
	tests := []struct {
		name string
		pod  *api.PodSecurityContext
		c    *api.SecurityContext
		want *api.SeccompProfile
	}{
		{name: "none"},
		{name: "pod context without a profile", pod: &api.PodSecurityContext{RunAsUser: api.Int64Ptr(1)}, c: &api.SecurityContext{}},
		{name: "the pod's", pod: podDefault, c: &api.SecurityContext{RunAsUser: api.Int64Ptr(1)}, want: runtimeDefault},
		{name: "the container's alone", c: &api.SecurityContext{SeccompProfile: local}, want: local},
		{name: "the container's wins", pod: podDefault, c: &api.SecurityContext{SeccompProfile: unconfined}, want: unconfined},
		{name: "privileged ignores the container's", c: &api.SecurityContext{Privileged: api.BoolPtr(true), SeccompProfile: local}},
		{name: "privileged ignores the pod's", pod: podDefault, c: &api.SecurityContext{Privileged: api.BoolPtr(true)}},
		{name: "privileged false keeps it", pod: podDefault, c: &api.SecurityContext{Privileged: api.BoolPtr(false)}, want: runtimeDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := effectiveSeccomp(tt.pod, tt.c); got != tt.want {
				t.Fatalf("effectiveSeccomp = %+v, want %+v", got, tt.want)
			}
		})
	}
}

const denyMkdir = `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`

func TestResolveSeccomp(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	denyPath := write("profiles/deny-mkdir.json", denyMkdir)
	write("broken.json", `{"defaultAction": "SCMP_ACT_ALLOW", `)
	write("no-default.json", `{"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`)
	write("bad-default.json", `{"defaultAction": "SCMP_ACT_MAYBE"}`)
	write("bad-action.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}, {"names": ["chmod"], "action": "deny"}]}`)
	write("no-names.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}`)
	if err := os.Mkdir(filepath.Join(dir, "a-dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	for name, tt := range map[string]struct {
		in   *api.SeccompProfile
		want runtime.SeccompProfile
	}{
		"no profile":     {},
		"Unconfined":     {in: seccompOf(api.SeccompProfileUnconfined)},
		"RuntimeDefault": {in: seccompOf(api.SeccompProfileRuntimeDefault), want: runtime.SeccompProfile{Type: runtime.SeccompRuntimeDefault}},
		"Localhost": {in: localhostProfile("profiles/deny-mkdir.json"),
			want: runtime.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostPath: denyPath, LocalhostProfile: []byte(denyMkdir)}},
	} {
		got, err := resolveSeccomp(dir, tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: resolveSeccomp = %+v, %v; want %+v", name, got, err, tt.want)
		}
	}

	for _, tt := range []struct {
		in   *api.SeccompProfile
		want string
	}{
		{localhostProfile("missing.json"), "seccomp profile " + filepath.Join(dir, "missing.json") + " does not exist: write it into the node's seccomp directory (agent.seccomp-dir) or fix localhostProfile"},
		{localhostProfile("broken.json"), "seccomp profile " + filepath.Join(dir, "broken.json") + ": not an OCI seccomp profile in JSON: unexpected end of JSON input"},
		{localhostProfile("no-default.json"), "no-default.json: defaultAction is required, e.g. SCMP_ACT_ALLOW or SCMP_ACT_ERRNO"},
		{localhostProfile("bad-default.json"), `bad-default.json: defaultAction: unknown action "SCMP_ACT_MAYBE"`},
		{localhostProfile("bad-action.json"), `bad-action.json: syscalls[1].action: unknown action "deny"`},
		{localhostProfile("no-names.json"), "no-names.json: syscalls[0].names: at least one system call name is required"},
		{localhostProfile("a-dir"), "seccomp profile " + filepath.Join(dir, "a-dir") + ": read " + filepath.Join(dir, "a-dir") + ": is a directory"},
		// Validation refuses these; the agent does not trust it to have run.
		{localhostProfile("../etc/passwd"), `seccompProfile.localhostProfile: must be a file name relative to the node's seccomp directory ` + dir + ` without '..', got "../etc/passwd"`},
		{localhostProfile("/etc/passwd"), `got "/etc/passwd"`},
		{&api.SeccompProfile{Type: api.SeccompProfileLocalhost}, `without '..', got ""`},
		{seccompOf("Default"), `seccompProfile.type: "Default" is not a seccomp profile type: use RuntimeDefault, Unconfined or Localhost`},
	} {
		got, err := resolveSeccomp(dir, tt.in)
		if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("resolveSeccomp(%s) = %+v, %v; want an error ending %q", deref(tt.in.LocalhostProfile), got, err, tt.want)
		}
	}
}

// The agent's container spec carries the resolved profile, and a broken
// one is the container's configuration error naming it.
func TestContainerSpecSeccomp(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "deny-mkdir.json"), []byte(denyMkdir), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &podWorker{a: &Agent{cfg: Config{SeccompDir: dir}}}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"}}
	pod.Spec.SecurityContext = &api.PodSecurityContext{SeccompProfile: seccompOf(api.SeccompProfileRuntimeDefault)}
	inherits := &api.Container{Name: "inherits", Image: "busybox"}
	spec, err := w.containerSpec(context.Background(), pod, inherits, 0)
	if err != nil || spec.Security.Seccomp.Type != runtime.SeccompRuntimeDefault {
		t.Fatalf("container without a profile in a RuntimeDefault pod: seccomp %+v, %v", spec.Security.Seccomp, err)
	}
	own := &api.Container{Name: "own", Image: "busybox", SecurityContext: &api.SecurityContext{SeccompProfile: localhostProfile("deny-mkdir.json")}}
	spec, err = w.containerSpec(context.Background(), pod, own, 0)
	if err != nil || spec.Security.Seccomp.Type != runtime.SeccompLocalhost || string(spec.Security.Seccomp.LocalhostProfile) != denyMkdir {
		t.Fatalf("container with a Localhost profile: seccomp %+v, %v", spec.Security.Seccomp, err)
	}
	missing := &api.Container{Name: "missing", Image: "busybox", SecurityContext: &api.SecurityContext{SeccompProfile: localhostProfile("gone.json")}}
	_, err = w.containerSpec(context.Background(), pod, missing, 0)
	if want := `container "missing": seccomp profile ` + filepath.Join(dir, "gone.json") + " does not exist"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("missing profile: err = %v, want it to start %q", err, want)
	}
	missing.SecurityContext.Privileged = api.BoolPtr(true)
	if spec, err = w.containerSpec(context.Background(), pod, missing, 0); err != nil || spec.Security.Seccomp.Type != "" {
		t.Fatalf("privileged container with a missing profile: seccomp %+v, %v; want unconfined", spec.Security.Seccomp, err)
	}
}
