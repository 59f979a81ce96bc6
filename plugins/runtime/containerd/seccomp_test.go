package containerd

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-sh/skiff/core/api"
	sdkruntime "github.com/skiff-sh/skiff/sdk/runtime"
	"github.com/skiff-sh/skiff/test/images"
)

// denyMkdir makes mkdir fail with EPERM and allows everything else.
const denyMkdir = `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`

func localhost(profile string) sdkruntime.SeccompProfile {
	return sdkruntime.SeccompProfile{Type: sdkruntime.SeccompLocalhost, LocalhostPath: "/seccomp/p.json", LocalhostProfile: json.RawMessage(profile)}
}

// applySeccomp is the seccomp filter the options put in a default spec.
func applySeccomp(t *testing.T, sec SecurityContext) *specs.LinuxSeccomp {
	t.Helper()
	opts, err := seccompSpecOpts(sec)
	if err != nil {
		t.Fatal(err)
	}
	s := &oci.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}, Linux: &specs.Linux{}}
	for _, o := range opts {
		if err := o(context.Background(), nil, nil, s); err != nil {
			t.Fatal(err)
		}
	}
	return s.Linux.Seccomp
}

func TestSeccompSpecOpts(t *testing.T) {
	for name, sec := range map[string]SecurityContext{
		"zero":                         {},
		"Unconfined":                   {Seccomp: sdkruntime.SeccompProfile{Type: sdkruntime.SeccompUnconfined}},
		"privileged ignores a profile": {Privileged: true, Seccomp: localhost(denyMkdir)},
	} {
		if f := applySeccomp(t, sec); f != nil {
			t.Errorf("%s: seccomp filter %+v, want none", name, f)
		}
	}
	want := seccomp.DefaultProfile(&oci.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}})
	if f := applySeccomp(t, SecurityContext{Seccomp: sdkruntime.SeccompProfile{Type: sdkruntime.SeccompRuntimeDefault}}); f == nil ||
		f.DefaultAction != specs.ActErrno || !reflect.DeepEqual(f, want) {
		t.Errorf("RuntimeDefault: filter %+v, want containerd's default", f)
	}
	f := applySeccomp(t, SecurityContext{Seccomp: localhost(denyMkdir)})
	if f == nil || f.DefaultAction != specs.ActAllow || len(f.Syscalls) != 1 || !slices.Equal(f.Syscalls[0].Names, []string{"mkdir", "mkdirat"}) ||
		f.Syscalls[0].Action != specs.ActErrno {
		t.Errorf("Localhost: filter %+v, want the profile's", f)
	}
	for _, tt := range []struct {
		sec  SecurityContext
		want string
	}{
		{SecurityContext{Seccomp: localhost("")}, "seccomp: Localhost profile /seccomp/p.json: no content"},
		{SecurityContext{Seccomp: localhost(`{"defaultAction": 1}`)}, "seccomp: Localhost profile /seccomp/p.json: not an OCI seccomp profile in JSON"},
		{SecurityContext{Seccomp: sdkruntime.SeccompProfile{Type: "Strict"}}, `seccomp: profile type "Strict": use RuntimeDefault, Unconfined or Localhost`},
	} {
		if _, err := seccompSpecOpts(tt.sec); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("seccompSpecOpts(%+v) error = %v, want %q", tt.sec.Seccomp, err, tt.want)
		}
	}
}

// Real runc applies the filters: RuntimeDefault and Localhost put the
// process in seccomp filter mode (2), none and Unconfined leave it off (0),
// and a Localhost profile that denies mkdir makes mkdir fail.
func TestSeccompProfilesInRunc(t *testing.T) {
	e := startRuntime(t)
	const script = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x 2>/dev/null && echo mkdir ok || echo mkdir refused"
	for _, tt := range []struct {
		name string
		sec  SecurityContext
		want string
	}{
		{name: "unset", want: "Seccomp:\t0\nmkdir ok\n"},
		{name: "unconfined", sec: SecurityContext{Seccomp: sdkruntime.SeccompProfile{Type: sdkruntime.SeccompUnconfined}}, want: "Seccomp:\t0\nmkdir ok\n"},
		{name: "runtime-default", sec: SecurityContext{Seccomp: sdkruntime.SeccompProfile{Type: sdkruntime.SeccompRuntimeDefault}}, want: "Seccomp:\t2\nmkdir ok\n"},
		{name: "localhost-deny-mkdir", sec: SecurityContext{Seccomp: localhost(denyMkdir)}, want: "Seccomp:\t2\nmkdir refused\n"},
		{name: "privileged", sec: SecurityContext{Privileged: true, Seccomp: localhost(denyMkdir)}, want: "Seccomp:\t0\nmkdir ok\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := runScript(t, e.rt, tt.name, images.BusyboxRef, tt.sec, nil, script); got != tt.want {
				t.Fatalf("printed %q, want %q", got, tt.want)
			}
		})
	}

	// A profile that does not decode is refused before anything is made.
	pod := testPod("broken-profile")
	spec, err := SpecFromAPI(&api.Container{Name: "c", Image: images.BusyboxRef, Command: []string{"true"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec.Security.Seccomp = localhost("{")
	if _, err := e.rt.CreateContainer(context.Background(), pod, spec); err == nil || !strings.Contains(err.Error(), "Localhost profile /seccomp/p.json") {
		t.Fatalf("CreateContainer with a broken profile: err = %v", err)
	}
	list, err := e.rt.ListContainers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(list, func(s ContainerStatus) bool { return s.PodUID == pod.UID }) {
		t.Fatal("a container with a broken profile was created")
	}
}
