package containerd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
)

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"--default"}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/entry", "--default"}},
		{"args replace cmd", nil, []string{"-x"}, []string{"/entry", "-x"}},
		{"command drops image cmd", []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"command and args", []string{"/bin/sh"}, []string{"-c", "true"}, []string{"/bin/sh", "-c", "true"}},
	} {
		if got := processArgs(ep, cmd, tc.command, tc.args); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSpecFromAPIAndCgroupResources(t *testing.T) {
	q := resource.MustParse
	spec, err := SpecFromAPI(&api.Container{
		Name:      "web",
		Env:       []api.EnvVar{{Name: "A", Value: "1"}, {Name: "B"}},
		Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": q("250m")}, Limits: api.ResourceList{"cpu": q("1500m"), "memory": q("128Mi")}},
	}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Attempt != 2 || !reflect.DeepEqual(spec.Env, []EnvVar{{Name: "A", Value: "1"}, {Name: "B"}}) ||
		spec.CPURequestMilli != 250 || spec.CPULimitMilli != 1500 || spec.MemoryLimitBytes != 128<<20 {
		t.Fatalf("spec = %+v", spec)
	}
	res := cgroupResourcesFor(spec.CPURequestMilli, spec.CPULimitMilli, spec.MemoryLimitBytes)
	if res.cpuShares != 256 || res.cpuQuota != 150_000 || res.memoryLimit != 128<<20 {
		t.Fatalf("got %+v, want shares 256, quota 150000, memory %d", res, 128<<20)
	}
	// The limit stands in for a missing request; tiny limits get 1 ms.
	if res := cgroupResourcesFor(0, 1, 0); res.cpuShares != 2 || res.cpuQuota != 1000 {
		t.Fatalf("1m limit: got %+v, want shares 2, quota 1000", res)
	}
	if res := cgroupResourcesFor(0, 0, 0); res.cpuShares != 2 || res.cpuQuota != 0 || res.memoryLimit != 0 {
		t.Fatalf("best effort: got %+v", res)
	}
	if _, err := SpecFromAPI(&api.Container{Name: "c", Resources: api.ResourceRequirements{Limits: api.ResourceList{"memory": q("0")}}}, 0, nil); err == nil {
		t.Fatal("zero memory limit accepted")
	}
	_, err = SpecFromAPI(&api.Container{Name: "c", Env: []api.EnvVar{{Name: "S", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.KeySelector{Name: "s", Key: "k"}}}}}, 0, nil)
	if err == nil || !strings.Contains(err.Error(), `"S"`) {
		t.Fatalf("unresolved secret ref: err = %v", err)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for ref, want := range map[string]PullPolicy{
		"busybox":                   PullAlways,
		"busybox:latest":            PullAlways,
		"busybox:1.36":              PullIfNotPresent,
		"127.0.0.1:5000/web:1":      PullIfNotPresent,
		"skiff.local/example/web:1": PullIfNotPresent,
		"busybox@sha256:" + strings.Repeat("a", 64): PullIfNotPresent,
	} {
		if got := DefaultPullPolicy(ref); got != want {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", ref, got, want)
		}
	}
	if got := normalizeRef("busybox"); got != "docker.io/library/busybox:latest" {
		t.Errorf("normalizeRef(busybox) = %s", got)
	}
}

func TestContainerIDIsDeterministicAndValid(t *testing.T) {
	a := ContainerID("uid-1", "web", 0)
	if a != ContainerID("uid-1", "web", 0) || a == ContainerID("uid-1", "web", 1) || a == ContainerID("uid-2", "web", 0) {
		t.Fatal("container IDs must differ exactly by pod, name and attempt")
	}
	if len(a) != 32 {
		t.Fatalf("id %q: want 32 hex digits", a)
	}
}

func TestDaemonConfigDisablesCRI(t *testing.T) {
	cfg := daemonConfig("/r", "/s", "/s/c.sock")
	for _, want := range []string{`root = "/r"`, `state = "/s"`, `"io.containerd.grpc.v1.cri"`, `address = "/s/c.sock"`, `address = "/s/c.sock.ttrpc"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
}

func TestLogWriterAndReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	lf, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	lf.now = func() time.Time { tick = tick.Add(time.Second); return tick }
	out := &streamWriter{file: lf, stream: "stdout"}
	errw := &streamWriter{file: lf, stream: "stderr"}
	out.Write([]byte("one\ntw"))
	errw.Write([]byte("warn\n"))
	out.Write([]byte("o\n" + strings.Repeat("x", maxLogLine+5)))
	out.flush()
	lf.Close()

	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 5 || lines[0] != "2024-05-01T10:00:01Z stdout F one" || lines[1] != "2024-05-01T10:00:02Z stderr F warn" ||
		!strings.HasPrefix(lines[3], "2024-05-01T10:00:04Z stdout P xxx") || lines[4] != "2024-05-01T10:00:05Z stdout P xxxxx" {
		t.Fatalf("CRI log file:\n%s", raw)
	}

	read := func(opts LogOptions) string {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var buf bytes.Buffer
		if err := copyLogs(context.Background(), f, opts, func() bool { return false }, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	long := strings.Repeat("x", maxLogLine+5)
	if got := read(LogOptions{}); got != "one\nwarn\ntwo\n"+long {
		t.Fatalf("all = %q", got)
	}
	if got := read(LogOptions{Tail: 2}); got != "two\n"+long {
		t.Fatalf("tail 2 = %q", got)
	}
	if got := read(LogOptions{Tail: 1, Timestamps: true}); got != "2024-05-01T10:00:04Z "+long {
		t.Fatalf("tail 1 with timestamps = %q", got)
	}
}
