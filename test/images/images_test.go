package images

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func requireTools(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs %s (busybox-static): %v", BusyboxPath, err)
		}
		t.Skipf("needs %s (busybox-static): %v", BusyboxPath, err)
	}
}

// rootfs flattens img and returns its entries by path.
func rootfs(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	entries := map[string]*tar.Header{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("read rootfs: %v", err)
		}
		entries[filepath.Clean("/"+hdr.Name)] = hdr
	}
}

func TestBusyboxTarballRoundTrip(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	p, err := BuildBusybox(dir, BusyboxRef)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatalf("read back %s: %v", p, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Fatalf("platform = %s/%s, want linux/amd64 (containerd filters images without it)", cfg.OS, cfg.Architecture)
	}
	if len(cfg.Config.Cmd) != 1 || cfg.Config.Cmd[0] != "sh" {
		t.Fatalf("cmd = %q, want [sh]", cfg.Config.Cmd)
	}
	fs := rootfs(t, img)
	for _, applet := range []string{"sh", "sleep", "wget", "nslookup", "cat", "ls"} {
		hdr, ok := fs["/bin/"+applet]
		if !ok || hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "busybox" {
			t.Errorf("/bin/%s: want a symlink to busybox, got %+v", applet, hdr)
		}
	}
	if hdr := fs["/tmp"]; hdr == nil || hdr.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: want mode 1777, got %+v", hdr)
	}

	// Same inputs, same digest: archives built twice are interchangeable.
	first, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("busybox image digest not reproducible: %s then %s", d1, d2)
	}
}

func TestWebImage(t *testing.T) {
	requireTools(t)
	if testing.Short() {
		t.Skip("compiles the web app")
	}
	img, err := Web()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/web" {
		t.Fatalf("entrypoint = %q, want [/web]", cfg.Config.Entrypoint)
	}
	fs := rootfs(t, img)
	web := fs["/web"]
	if web == nil || web.Size < 1<<20 || web.Mode&0o111 == 0 {
		t.Fatalf("/web: want an executable binary, got %+v", web)
	}
	if fs["/bin/sh"] == nil {
		t.Fatal("web image has no /bin/sh: exec into the example app would not work")
	}
}

func TestServeRegistryServesPushedImage(t *testing.T) {
	requireTools(t)
	img, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	host := ServeRegistry(t, map[string]v1.Image{"test/busybox:1": img})

	resp, err := http.Get("http://" + host + "/v2/test/busybox/manifests/1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest: %s", resp.Status)
	}
	var m v1.Manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	want, _ := img.ConfigName()
	if m.Config.Digest != want {
		t.Fatalf("served manifest config = %s, want %s", m.Config.Digest, want)
	}
	layer := m.Layers[0].Digest
	blob, err := http.Get("http://" + host + "/v2/test/busybox/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	blob.Body.Close()
	if blob.StatusCode != http.StatusOK {
		t.Fatalf("GET layer blob %s: %s", layer, blob.Status)
	}
}
