package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Names under which the example cluster imports the images.
const (
	WebRef     = "skiff.local/example/web:1"
	BusyboxRef = "skiff.local/test/busybox:1"
)

// BusyboxPath is where Debian's busybox-static installs the static busybox.
const BusyboxPath = "/bin/busybox"

// layerTime is the modification time of every file in built layers, so the
// same inputs give the same layer digests.
var layerTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// file is one entry of a layer: a directory, a regular file or a symlink.
type file struct {
	path string // absolute inside the image
	mode int64
	data []byte
	link string // symlink target
	dir  bool
}

// layerFromFiles returns an OCI layer holding files, in path order.
func layerFromFiles(files []file) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(f.path, "/"),
			Mode:    f.mode,
			ModTime: layerTime,
			Format:  tar.FormatPAX,
		}
		switch {
		case f.dir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case f.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.link
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.path, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", f.path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// image assembles a linux/amd64 OCI image from layers and a runtime config.
func image(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	// containerd's platform matcher drops images without os/architecture.
	img, err := mutate.ConfigFile(base, &v1.ConfigFile{
		OS:           "linux",
		Architecture: "amd64",
		Created:      v1.Time{Time: layerTime},
		Config:       cfg,
	})
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: layerTime}, CreatedBy: "skiff test/images"}})
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// busyboxLayer holds the host's static busybox at /bin/busybox, a symlink
// per applet it reports, and the directories a container expects.
func busyboxLayer() (v1.Layer, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox image: %w (install Debian's busybox-static)", err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox image: %s --list: %w", BusyboxPath, err)
	}
	files := []file{
		{path: "/bin", mode: 0o755, dir: true},
		{path: "/bin/busybox", mode: 0o755, data: bin},
		{path: "/dev", mode: 0o755, dir: true},
		{path: "/etc", mode: 0o755, dir: true},
		{path: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{path: "/proc", mode: 0o755, dir: true},
		{path: "/root", mode: 0o700, dir: true},
		{path: "/sys", mode: 0o755, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
		{path: "/usr", mode: 0o755, dir: true},
		{path: "/usr/bin", mode: 0o755, dir: true},
		{path: "/var", mode: 0o755, dir: true},
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		files = append(files, file{path: path.Join("/bin", applet), mode: 0o777, link: "busybox"})
	}
	return layerFromFiles(files)
}

// Busybox returns a busybox image whose default command is sh.
func Busybox() (v1.Image, error) {
	layer, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	return image(v1.Config{Cmd: []string{"sh"}, Env: []string{defaultPath}, WorkingDir: "/"}, layer)
}

// Web returns the example web app image: busybox (so `skiff exec` has a
// shell) plus /web, the entrypoint, listening on 8080. Building it needs the
// Go toolchain and the package's source tree.
func Web() (v1.Image, error) {
	bb, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	bin, err := buildWebBinary()
	if err != nil {
		return nil, err
	}
	web, err := layerFromFiles([]file{{path: "/web", mode: 0o755, data: bin}})
	if err != nil {
		return nil, err
	}
	return image(v1.Config{
		Entrypoint:   []string{"/web"},
		Env:          []string{defaultPath, "PORT=8080"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		WorkingDir:   "/",
	}, bb, web)
}

// BuildWebImage writes the web image tagged ref to a tar archive in dir and
// returns its path.
func BuildWebImage(dir, ref string) (string, error) {
	img, err := Web()
	if err != nil {
		return "", err
	}
	return writeInDir(dir, ref, img)
}

// BuildBusybox writes the busybox image tagged ref to a tar archive in dir and
// returns its path.
func BuildBusybox(dir, ref string) (string, error) {
	img, err := Busybox()
	if err != nil {
		return "", err
	}
	return writeInDir(dir, ref, img)
}

func writeInDir(dir, ref string, img v1.Image) (string, error) {
	base := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref)
	p := filepath.Join(dir, base+".tar")
	return p, WriteTarball(p, ref, img)
}

// WriteTarball writes img tagged ref to p as a docker-save style archive
// (manifest.json + blobs), which `ctr image import` and containerd's Import
// accept. The file is written under a temporary name and renamed, so a
// reader never sees half an archive.
func WriteTarball(p, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image %s to %s: %w", ref, p, err)
	}
	return os.Rename(tmp, p)
}
