package sim

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk/runtime"
)

func TestImageUserAndRunAsNonRoot(t *testing.T) {
	r := New()
	ctx := context.Background()
	r.SetImageUser("app:1", "1000:1000")
	for ref, want := range map[string]string{"app:1": "1000:1000", "root:1": ""} {
		img, err := r.EnsureImage(ctx, ref, runtime.PullNever)
		if err != nil || img.User != want {
			t.Fatalf("EnsureImage(%s).User = %q, %v; want %q", ref, img.User, err, want)
		}
	}
	pod := runtime.Pod{UID: "u1", Namespace: "default", Name: "p"}
	_, err := r.CreateContainer(ctx, pod, runtime.ContainerSpec{Name: "c", Image: "root:1", Security: runtime.SecurityContext{RunAsNonRoot: true}})
	if !errors.Is(err, runtime.ErrRunAsNonRoot) {
		t.Fatalf("runAsNonRoot on a root image: err = %v, want ErrRunAsNonRoot", err)
	}
	_, err = r.CreateContainer(ctx, pod, runtime.ContainerSpec{Name: "c", Image: "app:1",
		Security: runtime.SecurityContext{Seccomp: runtime.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostPath: "/seccomp/p.json"}}})
	if err == nil || !strings.Contains(err.Error(), "seccomp: Localhost profile /seccomp/p.json: no content") {
		t.Fatalf("Localhost seccomp profile without content: err = %v", err)
	}
	if list, _ := r.ListContainers(ctx); len(list) != 0 {
		t.Fatalf("a refused container was created: %+v", list)
	}

	uid := int64(1000)
	spec := runtime.ContainerSpec{Name: "c", Image: "app:1", Env: []runtime.EnvVar{{Name: "A", Value: "1"}},
		Security: runtime.SecurityContext{RunAsNonRoot: true, RunAsUser: &uid, ReadOnlyRootFilesystem: true, CapabilitiesDrop: []string{"ALL"},
			Seccomp: runtime.SeccompProfile{Type: runtime.SeccompLocalhost, LocalhostPath: "/seccomp/p.json", LocalhostProfile: []byte(`{"defaultAction":"SCMP_ACT_LOG"}`)}}}
	id, err := r.CreateContainer(ctx, pod, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Spec(id)
	if err != nil || !reflect.DeepEqual(got, spec) {
		t.Fatalf("Spec(%s) = %+v, %v; want the spec it was created with", id, got, err)
	}
	if _, err := r.Spec("nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Spec of an unknown container: err = %v", err)
	}
}
