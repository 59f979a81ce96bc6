package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// podVolumes are a pod's materialised volumes and DNS files.
type podVolumes struct {
	dirs       map[string]string // volume name -> host path
	projected  map[string][32]byte
	resolvConf string
	hosts      string
}

// ensureVolumes creates the pod's volumes (emptyDir under the pod's
// directory, hostPath, configMap and secret projected as files, refreshed
// when their data changes) and its /etc/resolv.conf and /etc/hosts.
func (w *podWorker) ensureVolumes(ctx context.Context, pod *api.Pod) error {
	if w.volumes == nil {
		w.volumes = &podVolumes{dirs: map[string]string{}, projected: map[string][32]byte{}}
	}
	v := w.volumes
	base := filepath.Join(w.a.podDir(pod.UID), "volumes")
	for _, vol := range pod.Spec.Volumes {
		dir := filepath.Join(base, vol.Name)
		switch {
		case vol.HostPath != nil:
			if err := ensureHostPath(vol.HostPath); err != nil {
				return fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			v.dirs[vol.Name] = vol.HostPath.Path
		case vol.EmptyDir != nil:
			if _, ok := v.dirs[vol.Name]; ok {
				continue
			}
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			os.Chmod(dir, 0o777)
			if vol.EmptyDir.Medium == "Memory" {
				opts := "mode=1777"
				if q := vol.EmptyDir.SizeLimit; q != nil {
					opts += fmt.Sprintf(",size=%d", q.Value())
				}
				if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
					return fmt.Errorf("volume %q: mount tmpfs on %s: %w", vol.Name, dir, err)
				}
			}
			v.dirs[vol.Name] = dir
		case vol.ConfigMap != nil:
			files, err := w.configMapFiles(ctx, pod.Namespace, vol.ConfigMap)
			if err != nil {
				return fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			if err := v.project(vol.Name, dir, files); err != nil {
				return fmt.Errorf("volume %q: %w", vol.Name, err)
			}
		case vol.Secret != nil:
			files, err := w.secretFiles(ctx, pod.Namespace, vol.Secret)
			if err != nil {
				return fmt.Errorf("volume %q: %w", vol.Name, err)
			}
			if err := v.project(vol.Name, dir, files); err != nil {
				return fmt.Errorf("volume %q: %w", vol.Name, err)
			}
		default:
			return fmt.Errorf("volume %q: unsupported source (skiff supports emptyDir, hostPath, configMap and secret)", vol.Name)
		}
	}
	if v.resolvConf == "" {
		if err := w.writeDNSFiles(pod); err != nil {
			return err
		}
	}
	return nil
}

func ensureHostPath(hp *api.HostPathVolumeSource) error {
	typ := ""
	if hp.Type != nil {
		typ = *hp.Type
	}
	fi, err := os.Stat(hp.Path)
	switch typ {
	case "DirectoryOrCreate":
		if errors.Is(err, os.ErrNotExist) {
			return os.MkdirAll(hp.Path, 0o755)
		}
	case "FileOrCreate":
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	case "Directory":
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("hostPath %s: must be an existing directory", hp.Path)
		}
	case "File":
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath %s: must be an existing file", hp.Path)
		}
	}
	return nil
}

// projectedFile is one file of a configMap or secret volume.
type projectedFile struct {
	path string
	data []byte
	mode os.FileMode
}

func (w *podWorker) configMapFiles(ctx context.Context, ns string, src *api.ConfigMapVolumeSource) ([]projectedFile, error) {
	cm, err := client.Get[*api.ConfigMap](ctx, w.a.client, ns, src.Name)
	if api.IsNotFound(err) && src.Optional != nil && *src.Optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configmap %s/%s: %w", ns, src.Name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectKeys("configmap "+ns+"/"+src.Name, data, src.Items, src.DefaultMode)
}

func (w *podWorker) secretFiles(ctx context.Context, ns string, src *api.SecretVolumeSource) ([]projectedFile, error) {
	s, err := client.Get[*api.Secret](ctx, w.a.client, ns, src.SecretName)
	if api.IsNotFound(err) && src.Optional != nil && *src.Optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, src.SecretName, err)
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return projectKeys("secret "+ns+"/"+src.SecretName, data, src.Items, src.DefaultMode)
}

// projectKeys selects the files of a volume: every key, or the items.
func projectKeys(what string, data map[string][]byte, items []api.KeyToPath, defaultMode *int32) ([]projectedFile, error) {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	var out []projectedFile
	if len(items) == 0 {
		for k, v := range data {
			out = append(out, projectedFile{path: k, data: v, mode: mode})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s: key %q not found (items[].key)", what, it.Key)
		}
		if it.Path == "" || filepath.IsAbs(it.Path) || strings.Contains(it.Path, "..") {
			return nil, fmt.Errorf("%s: item %q: path %q must be relative without '..'", what, it.Key, it.Path)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out = append(out, projectedFile{path: it.Path, data: v, mode: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// project writes files into dir the way Kubernetes does, so a running
// container never sees a half-written update: the files go to a fresh
// directory, the ..data symlink is swapped to it atomically, and each
// top-level name links through ..data.
func (v *podVolumes) project(name, dir string, files []projectedFile) error {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", f.path, f.mode, len(f.data))
		h.Write(f.data)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if old, ok := v.projected[name]; ok && old == sum {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gen, err := os.MkdirTemp(dir, "..data-")
	if err != nil {
		return err
	}
	os.Chmod(gen, 0o755)
	for _, f := range files {
		p := filepath.Join(gen, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	dataLink := filepath.Join(dir, "..data")
	oldTarget, _ := os.Readlink(dataLink)
	tmpLink := filepath.Join(dir, "..data_tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(gen), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, f := range files {
		top := strings.SplitN(f.path, "/", 2)[0]
		want[top] = true
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
				return err
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") && !want[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if oldTarget != "" && oldTarget != filepath.Base(gen) {
		os.RemoveAll(filepath.Join(dir, oldTarget))
	}
	v.dirs[name] = dir
	v.projected[name] = sum
	return nil
}

// removeVolumes unmounts the pod's tmpfs volumes, including those an
// earlier agent mounted; the caller removes the pod's directory.
func (w *podWorker) removeVolumes() error {
	w.volumes = nil
	entries, _ := os.ReadDir(filepath.Join(w.a.podDir(w.uid), "volumes"))
	for _, e := range entries {
		dir := filepath.Join(w.a.podDir(w.uid), "volumes", e.Name())
		// EINVAL: not a mount point, the common case.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("unmount volume %s: %w", dir, err)
		}
	}
	return nil
}
