package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	sdkruntime "github.com/skiff-sh/skiff/sdk/runtime"
)

// Labels on every container the runtime creates. They make a container
// findable after an agent restart (ListPodContainers) without local state.
const (
	LabelPodUID        = "skiff.pod.uid"
	LabelPodName       = "skiff.pod.name"
	LabelPodNamespace  = "skiff.pod.namespace"
	LabelContainerName = "skiff.container.name"
	LabelAttempt       = "skiff.container.attempt"
	labelLogPath       = "skiff.container.log"
	labelStartedAt     = "skiff.container.started-at"
	labelOOMKilled     = "skiff.container.oom-killed"
	labelImageID       = "skiff.container.image-id"
)

func podHostname(p Pod) string {
	if p.Hostname != "" {
		return p.Hostname
	}
	return p.Name
}

// ContainerID is the containerd ID of attempt of container name in pod uid:
// deterministic, so creating an attempt twice is detected as AlreadyExists.
func ContainerID(podUID, name string, attempt int) string {
	sum := sha256.Sum256([]byte(podUID + "/" + name + "/" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:16])
}

// CreateContainer creates (but does not start) attempt c.Attempt of
// container c of pod from its image, which must be present (EnsureImage).
// It returns the container ID.
func (r *Runtime) CreateContainer(ctx context.Context, pod Pod, c ContainerSpec) (string, error) {
	ctx = r.ns(ctx)
	where := fmt.Sprintf("pod %s/%s container %q", pod.Namespace, pod.Name, c.Name)
	if pod.UID == "" || c.Name == "" {
		return "", fmt.Errorf("%s: pod uid and container name are required", where)
	}
	env := make([]string, 0, len(c.Env))
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	image, err := r.client.GetImage(ctx, normalizeRef(c.Image))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("%s: image %q is not present: pull or import it first (EnsureImage): %w", where, c.Image, err)
		}
		return "", fmt.Errorf("%s: image %q: %w", where, c.Image, err)
	}
	img, err := r.images.resolve(ctx, image)
	if err != nil {
		return "", fmt.Errorf("%s: image %q: %w", where, c.Image, err)
	}
	imgCfg := img.config
	// The agent has checked already; a runtime driven by another client
	// must not run such a container either.
	if err := sdkruntime.CheckRunAsNonRoot(c.Security, imgCfg.User); err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	seccompOpts, err := seccompSpecOpts(c.Security)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	args := processArgs(imgCfg.Entrypoint, imgCfg.Cmd, c.Command, c.Args)
	if len(args) == 0 {
		return "", fmt.Errorf("%s: no command: set command in the pod spec or an entrypoint/cmd in image %q", where, c.Image)
	}
	res := cgroupResourcesFor(c.CPURequestMilli, c.CPULimitMilli, c.MemoryLimitBytes)
	podDir, err := r.preparePodDir(pod)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}

	id := ContainerID(pod.UID, c.Name, c.Attempt)
	logPath := r.logPath(pod.UID, c.Name, c.Attempt)
	specOpts := []oci.SpecOpts{
		r.images.withImageConfig(img, c.Security.UserString(imgCfg.User)),
		oci.WithProcessArgs(args...),
		oci.WithEnv(env),
		oci.WithMounts(podMounts(pod, podDir, c.Mounts)),
		withResources(res),
	}
	specOpts = append(specOpts, securitySpecOpts(c.Security)...)
	// After the capabilities, which containerd's default profile reads.
	specOpts = append(specOpts, seccompOpts...)
	if c.WorkingDir != "" {
		specOpts = append(specOpts, oci.WithProcessCwd(c.WorkingDir))
	}
	if c.TTY {
		specOpts = append(specOpts, oci.WithTTY)
	}
	if pod.NetNSPath != "" {
		specOpts = append(specOpts,
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: pod.NetNSPath}),
			oci.WithHostname(podHostname(pod)))
	} else {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	}
	_, err = r.client.NewContainer(ctx, id,
		withSnapshot(r.cfg.Snapshotter, id, img),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(map[string]string{
			LabelPodUID:        pod.UID,
			LabelPodName:       pod.Name,
			LabelPodNamespace:  pod.Namespace,
			LabelContainerName: c.Name,
			LabelAttempt:       strconv.Itoa(c.Attempt),
			labelLogPath:       logPath,
			labelImageID:       img.id,
		}),
	)
	if err != nil {
		return "", fmt.Errorf("%s: create container (attempt %d): %w", where, c.Attempt, err)
	}
	return id, nil
}

// processArgs is the command line of a container the way Kubernetes
// combines the pod's command/args with the image's entrypoint/cmd: command
// replaces the entrypoint and drops the image's cmd; args replace the cmd.
func processArgs(entrypoint, cmd, command, args []string) []string {
	switch {
	case len(command) > 0:
		return append(append([]string{}, command...), args...)
	case len(args) > 0:
		return append(append([]string{}, entrypoint...), args...)
	default:
		return append(append([]string{}, entrypoint...), cmd...)
	}
}

// podDir is where per-pod files (the hostname file) live.
func (r *Runtime) podDir(uid string) string { return filepath.Join(r.cfg.DataDir, "pods", uid) }

func (r *Runtime) preparePodDir(pod Pod) (string, error) {
	dir := r.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pod dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(podHostname(pod)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("pod hostname file: %w", err)
	}
	return dir, nil
}

// podMounts binds /etc/hostname, the DNS files and the volumes.
func podMounts(pod Pod, podDir string, volumes []Mount) []specs.Mount {
	var out []specs.Mount
	if pod.NetNSPath != "" {
		out = append(out, bindMount(filepath.Join(podDir, "hostname"), "/etc/hostname", true))
	}
	if pod.ResolvConfPath != "" {
		out = append(out, bindMount(pod.ResolvConfPath, "/etc/resolv.conf", true))
	}
	if pod.HostsPath != "" {
		out = append(out, bindMount(pod.HostsPath, "/etc/hosts", true))
	}
	for _, m := range volumes {
		out = append(out, bindMount(m.HostPath, m.ContainerPath, m.ReadOnly))
	}
	return out
}

func bindMount(src, dst string, readOnly bool) specs.Mount {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"rbind", "rprivate", mode}}
}
