package containerd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/test/images"
)

func TestMergeEnvOverridesInPlaceAndAppends(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "PORT=8080"}, []string{"PORT=9090", "MODE=x"})
	want := []string{"PATH=/bin", "PORT=9090", "MODE=x"}
	if !slices.Equal(got, want) {
		t.Fatalf("mergeEnv = %q, want %q", got, want)
	}
}

// Containers of one image share one read of its config and one lookup of
// its user, and still get the image's environment, directory and user.
func TestContainersShareImageResolution(t *testing.T) {
	e := startRuntime(t)
	ctx := context.Background()
	pod := testPod("shared")
	// Importing resolved every image (EnsureImage and ImportImage report
	// the image's USER); creating containers must not add to that.
	e.rt.images.mu.Lock()
	importedImages := len(e.rt.images.images)
	e.rt.images.mu.Unlock()
	var ids []string
	for i, name := range []string{"a", "b"} {
		c := api.Container{Name: name, Image: images.WebRef, Env: []api.EnvVar{{Name: "PORT", Value: "9090"}, {Name: "EXTRA", Value: name}}}
		spec, err := SpecFromAPI(&c, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.rt.CreateContainer(ctx, pod, spec)
		if err != nil {
			t.Fatalf("container %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		s, err := mustContainer(t, e.rt, id).Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := s.Process
		if !slices.Contains(p.Env, "PORT=9090") || !slices.ContainsFunc(p.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
			t.Errorf("container %s: env %q: want the image's PATH and the pod's PORT=9090", id, p.Env)
		}
		if slices.Contains(p.Env, "PORT=8080") {
			t.Errorf("container %s: env %q still has the image's PORT", id, p.Env)
		}
		if p.Cwd != "/" || p.User.UID != 0 || p.User.GID != 0 {
			t.Errorf("container %s: cwd %q user %d:%d, want / and 0:0", id, p.Cwd, p.User.UID, p.User.GID)
		}
	}
	e.rt.images.mu.Lock()
	nImages, nUsers := len(e.rt.images.images), len(e.rt.images.users)
	e.rt.images.mu.Unlock()
	if nImages != importedImages || nUsers != 1 {
		t.Fatalf("cache holds %d images and %d users after two containers of one image, want %d (the imported ones) and 1", nImages, nUsers, importedImages)
	}
	if err := e.rt.StartContainer(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	img, err := e.rt.EnsureImage(ctx, images.WebRef, PullNever)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "web container running", func() error {
		st, err := e.rt.ContainerStatus(ctx, ids[0])
		if err == nil && (st.State != StateRunning || st.ImageID != img.ID || st.StartedAt.IsZero()) {
			return fmt.Errorf("status %+v: want running, image %s, a start time", st, img.ID)
		}
		return err
	})
}

// A start waits for a free slot: with every slot taken it gives up when
// its context ends and leaves the container created, not started.
func TestStartWaitsForASlot(t *testing.T) {
	e := startRuntime(t)
	ctx := context.Background()
	spec, err := SpecFromAPI(&api.Container{Name: "main", Image: images.BusyboxRef, Command: []string{"sleep", "60"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.rt.CreateContainer(ctx, testPod("slots"), spec)
	if err != nil {
		t.Fatal(err)
	}
	for range cap(e.rt.starts) {
		e.rt.starts <- struct{}{}
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = e.rt.StartContainer(short, id)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "start slot") {
		t.Fatalf("start with every slot taken: err = %v, want a start-slot timeout", err)
	}
	if st, err := e.rt.ContainerStatus(ctx, id); err != nil || st.State != StateCreated {
		t.Fatalf("after the timed-out start: status %+v, %v; want created", st, err)
	}
	<-e.rt.starts
	if err := e.rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("start with a free slot: %v", err)
	}
	for len(e.rt.starts) > 0 {
		<-e.rt.starts
	}
	if st, err := e.rt.ContainerStatus(ctx, id); err != nil || st.State != StateRunning {
		t.Fatalf("status %+v, %v; want running", st, err)
	}
}
