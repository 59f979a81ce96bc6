package runtime

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func id(v int64) *int64 { return &v }

func TestCheckRunAsNonRoot(t *testing.T) {
	tests := []struct {
		name      string
		sc        SecurityContext
		imageUser string
		want      string // "" allows
	}{
		{name: "not asked", sc: SecurityContext{}, imageUser: ""},
		{name: "explicit non-root", sc: SecurityContext{RunAsNonRoot: true, RunAsUser: id(1000)}, imageUser: "root"},
		{name: "explicit root", sc: SecurityContext{RunAsNonRoot: true, RunAsUser: id(0)}, imageUser: "1000",
			want: "container's runAsUser breaks non-root policy"},
		{name: "image without USER", sc: SecurityContext{RunAsNonRoot: true},
			want: "container has runAsNonRoot and image will run as root"},
		{name: "image uid 0 with group", sc: SecurityContext{RunAsNonRoot: true}, imageUser: "0:1000",
			want: "container has runAsNonRoot and image will run as root"},
		{name: "image numeric user", sc: SecurityContext{RunAsNonRoot: true}, imageUser: "65534:65534"},
		{name: "image named user", sc: SecurityContext{RunAsNonRoot: true}, imageUser: "nobody",
			want: "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root"},
		{name: "named user, runAsGroup does not help", sc: SecurityContext{RunAsNonRoot: true, RunAsGroup: id(5)}, imageUser: "app:app",
			want: "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRunAsNonRoot(tt.sc, tt.imageUser)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case err != nil && !errors.Is(err, ErrRunAsNonRoot):
				t.Fatalf("err %v is not ErrRunAsNonRoot", err)
			}
		})
	}
}

func TestUserString(t *testing.T) {
	tests := []struct {
		sc        SecurityContext
		imageUser string
		want      string
	}{
		{SecurityContext{}, "", ""},
		{SecurityContext{}, "nobody:nogroup", "nobody:nogroup"},
		{SecurityContext{RunAsUser: id(1000)}, "nobody:nogroup", "1000"},
		{SecurityContext{RunAsUser: id(1000), RunAsGroup: id(3000)}, "", "1000:3000"},
		{SecurityContext{RunAsGroup: id(3000)}, "nobody:nogroup", "nobody:3000"},
		{SecurityContext{RunAsGroup: id(3000)}, "", "0:3000"},
	}
	for _, tt := range tests {
		if got := tt.sc.UserString(tt.imageUser); got != tt.want {
			t.Errorf("%+v.UserString(%q) = %q, want %q", tt.sc, tt.imageUser, got, tt.want)
		}
	}
}

// The seccomp profile crosses the process boundary as JSON: a Localhost
// profile's content stays verbatim, and no profile adds nothing.
func TestSeccompProfileJSON(t *testing.T) {
	if b, err := json.Marshal(SecurityContext{}); err != nil || string(b) != "{}" {
		t.Fatalf("zero SecurityContext marshals to %s, %v; want {}", b, err)
	}
	in := SecurityContext{Seccomp: SeccompProfile{Type: SeccompLocalhost, LocalhostPath: "/var/lib/skiff/agent/seccomp/deny.json",
		LocalhostProfile: json.RawMessage(`{"defaultAction":"SCMP_ACT_ERRNO"}`)}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out SecurityContext
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip of %s = %+v, %v", b, out, err)
	}
}

func TestSeccompProfileCheck(t *testing.T) {
	for _, ok := range []SeccompProfile{{}, {Type: SeccompUnconfined}, {Type: SeccompRuntimeDefault},
		{Type: SeccompLocalhost, LocalhostProfile: json.RawMessage(`{"defaultAction":"SCMP_ACT_ALLOW"}`)}} {
		if err := ok.Check(); err != nil {
			t.Errorf("Check(%+v) = %v", ok, err)
		}
	}
	for p, want := range map[*SeccompProfile]string{
		{Type: SeccompLocalhost, LocalhostPath: "/s/p.json"}: "seccomp: Localhost profile /s/p.json: no content: the agent passes the file's content in Security.Seccomp.LocalhostProfile",
		{Type: "runtime/default"}:                            `seccomp: profile type "runtime/default": use RuntimeDefault, Unconfined or Localhost`,
	} {
		if err := p.Check(); err == nil || err.Error() != want {
			t.Errorf("Check(%+v) = %v, want %q", *p, err, want)
		}
	}
}
