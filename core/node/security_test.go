package node

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

func TestEffectiveSecurity(t *testing.T) {
	i64 := api.Int64Ptr
	yes, no := api.BoolPtr(true), api.BoolPtr(false)
	pod := &api.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(3000), RunAsNonRoot: yes,
		SupplementalGroups: []int64{4000, 2000}, FSGroup: i64(2000)}
	tests := []struct {
		name string
		pod  *api.PodSecurityContext
		c    *api.SecurityContext
		want runtime.SecurityContext
	}{
		{name: "none", want: runtime.SecurityContext{}},
		{name: "pod only: ids, groups with fsGroup once", pod: pod,
			want: runtime.SecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(3000), RunAsNonRoot: true, SupplementalGroups: []int64{4000, 2000}}},
		{name: "container overrides the pod", pod: pod, c: &api.SecurityContext{RunAsUser: i64(0), RunAsGroup: i64(0), RunAsNonRoot: no},
			want: runtime.SecurityContext{RunAsUser: i64(0), RunAsGroup: i64(0), SupplementalGroups: []int64{4000, 2000}}},
		{name: "container only", c: &api.SecurityContext{RunAsUser: i64(7), ReadOnlyRootFilesystem: yes, AllowPrivilegeEscalation: no,
			Capabilities: &api.Capabilities{Add: []string{"net_bind_service", "CAP_NET_BIND_SERVICE"}, Drop: []string{"all"}}},
			want: runtime.SecurityContext{RunAsUser: i64(7), ReadOnlyRootFilesystem: true, NoNewPrivileges: true,
				CapabilitiesAdd: []string{"CAP_NET_BIND_SERVICE"}, CapabilitiesDrop: []string{"ALL"}}},
		{name: "escalation allowed by default", c: &api.SecurityContext{AllowPrivilegeEscalation: yes},
			want: runtime.SecurityContext{}},
		{name: "privileged never gets no_new_privs", c: &api.SecurityContext{Privileged: yes, AllowPrivilegeEscalation: no},
			want: runtime.SecurityContext{Privileged: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := effectiveSecurity(tt.pod, tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// The result does not alias the pod's ids: the runtime may keep it.
	got, _ := effectiveSecurity(pod, nil)
	*got.RunAsUser = 1
	if *pod.RunAsUser != 1000 {
		t.Fatal("effectiveSecurity aliases the pod's runAsUser")
	}
	if _, err := effectiveSecurity(nil, &api.SecurityContext{Capabilities: &api.Capabilities{Drop: []string{"CHOWN", "NOPE"}}}); err == nil ||
		err.Error() != `securityContext.capabilities.drop[1]: "NOPE" is not a Linux capability (see capabilities(7))` {
		t.Fatalf("unknown capability: err = %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	sources := []envSource{
		{kind: "configMap", name: "base", data: map[string]string{"B": "base-b", "A": "base-a", "LOG": "info", "1BAD": "x"}},
		{kind: "secret", name: "db", prefix: "DB_", data: map[string]string{"PASSWORD": "s3cret", "USER": "app"}},
		{kind: "configMap", name: "override", data: map[string]string{"A": "override-a", "2BAD": "y", "3BAD": "z"}},
	}
	explicit := []runtime.EnvVar{{Name: "LOG", Value: "debug"}, {Name: "Z", Value: "z"}}
	env, skipped := mergeEnv(sources, explicit)
	want := []runtime.EnvVar{
		{Name: "A", Value: "override-a"}, // a later source wins, in place
		{Name: "B", Value: "base-b"},
		{Name: "DB_PASSWORD", Value: "s3cret"},
		{Name: "DB_USER", Value: "app"},
		{Name: "LOG", Value: "debug"}, // env wins over envFrom
		{Name: "Z", Value: "z"},
	}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env:\n got  %v\n want %v", env, want)
	}
	if len(skipped) != 2 || skipped[0].source.name != "base" || !reflect.DeepEqual(skipped[0].keys, []string{"1BAD"}) ||
		skipped[1].source.name != "override" || !reflect.DeepEqual(skipped[1].keys, []string{"2BAD", "3BAD"}) {
		t.Fatalf("skipped = %+v", skipped)
	}
	// A prefix makes a digit-led key a valid name.
	env, skipped = mergeEnv([]envSource{{prefix: "P_", data: map[string]string{"1X": "v"}}}, nil)
	if len(skipped) != 0 || len(env) != 1 || env[0].Name != "P_1X" {
		t.Fatalf("prefixed digit key: env %v, skipped %+v", env, skipped)
	}
}

func TestApplyFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another group needs root")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("x"), 0o600)
	os.Symlink("sub/f", filepath.Join(dir, "link"))
	const gid = 4242
	if err := applyFSGroup(dir, gid, false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{
		dir:                            fs.ModeDir | fs.ModeSetgid | 0o770,
		filepath.Join(dir, "sub"):      fs.ModeDir | fs.ModeSetgid | 0o770,
		filepath.Join(dir, "sub", "f"): 0o660,
	} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// TempDir is 0700: g+rwX adds to it, it never takes away.
		if info.Mode()&^0o007 != want || fileGID(info) != gid {
			t.Errorf("%s: mode %v gid %d, want %v gid %d", path, info.Mode(), fileGID(info), want, gid)
		}
	}
	if info, _ := os.Lstat(filepath.Join(dir, "link")); fileGID(info) != gid {
		t.Errorf("symlink gid = %d, want %d (lchown)", fileGID(info), gid)
	}

	// OnRootMismatch leaves a volume whose top is owned alone; Always does not.
	os.WriteFile(filepath.Join(dir, "late"), []byte("x"), 0o600)
	os.Chown(filepath.Join(dir, "late"), -1, 0)
	if err := applyFSGroup(dir, gid, true); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "late")); fileGID(info) != 0 {
		t.Fatalf("OnRootMismatch re-owned a file under an owned root")
	}
	if err := applyFSGroup(dir, gid, false); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "late")); fileGID(info) != gid || info.Mode() != 0o660 {
		t.Fatalf("Always: late file mode %v gid %d", info.Mode(), fileGID(info))
	}
}
