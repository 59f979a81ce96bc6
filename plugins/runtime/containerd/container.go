package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-sh/skiff/core/api"
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
)

// Pod is the sandbox a pod's containers share: its identity, the network
// namespace the network plugin prepared and the DNS files the agent wrote.
type Pod struct {
	UID       string
	Namespace string
	Name      string
	// Hostname is the containers' UTS hostname and the content of their
	// /etc/hostname (default Name).
	Hostname string
	// NetNSPath is the pod's network namespace, e.g. /var/run/netns/skiff-1a2b.
	// Empty runs the containers in the host's network (hostNetwork pods).
	NetNSPath string
	// ResolvConfPath and HostsPath are bind-mounted read-only at
	// /etc/resolv.conf and /etc/hosts when set.
	ResolvConfPath string
	HostsPath      string
}

func (p Pod) hostname() string {
	if p.Hostname != "" {
		return p.Hostname
	}
	return p.Name
}

// Mount binds a host path, materialised by the agent (emptyDir, configMap,
// secret, hostPath volumes), into a container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// CreateOptions are what the agent resolved for one container run.
type CreateOptions struct {
	// Attempt counts the container's restarts, from 0; each attempt is a new
	// containerd container with its own log file.
	Attempt int
	// Mounts are the container's volume mounts with host paths resolved.
	Mounts []Mount
}

// ContainerID is the containerd ID of attempt of container name in pod uid:
// deterministic, so creating an attempt twice is detected as AlreadyExists.
func ContainerID(podUID, name string, attempt int) string {
	sum := sha256.Sum256([]byte(podUID + "/" + name + "/" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:16])
}

// CreateContainer creates (but does not start) container c of pod from its
// image, which must be present (EnsureImage). Env values must be resolved:
// the agent replaces valueFrom references with values. It returns the
// container ID.
func (r *Runtime) CreateContainer(ctx context.Context, pod Pod, c *api.Container, opts CreateOptions) (string, error) {
	ctx = r.ns(ctx)
	where := fmt.Sprintf("pod %s/%s container %q", pod.Namespace, pod.Name, c.Name)
	if pod.UID == "" || c.Name == "" {
		return "", fmt.Errorf("%s: pod uid and container name are required", where)
	}
	env, err := containerEnv(c.Env)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	image, err := r.client.GetImage(ctx, normalizeRef(c.Image))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("%s: image %q is not present: pull or import it first (EnsureImage): %w", where, c.Image, err)
		}
		return "", fmt.Errorf("%s: image %q: %w", where, c.Image, err)
	}
	imgCfg, err := imageConfig(ctx, image)
	if err != nil {
		return "", fmt.Errorf("%s: image %q: %w", where, c.Image, err)
	}
	args := processArgs(imgCfg.Entrypoint, imgCfg.Cmd, c.Command, c.Args)
	if len(args) == 0 {
		return "", fmt.Errorf("%s: no command: set command in the pod spec or an entrypoint/cmd in image %q", where, c.Image)
	}
	res, err := resourcesFor(c.Resources)
	if err != nil {
		return "", fmt.Errorf("%s: resources: %w", where, err)
	}
	podDir, err := r.preparePodDir(pod)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}

	id := ContainerID(pod.UID, c.Name, opts.Attempt)
	logPath := r.logPath(pod.UID, c.Name, opts.Attempt)
	specOpts := []oci.SpecOpts{
		oci.WithImageConfig(image),
		oci.WithProcessArgs(args...),
		oci.WithEnv(env),
		oci.WithMounts(podMounts(pod, podDir, opts.Mounts)),
		withResources(res),
	}
	if c.WorkingDir != "" {
		specOpts = append(specOpts, oci.WithProcessCwd(c.WorkingDir))
	}
	if c.TTY {
		specOpts = append(specOpts, oci.WithTTY)
	}
	if pod.NetNSPath != "" {
		specOpts = append(specOpts,
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: pod.NetNSPath}),
			oci.WithHostname(pod.hostname()))
	} else {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	}
	_, err = r.client.NewContainer(ctx, id,
		containerd.WithImage(image),
		containerd.WithImageName(image.Name()),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		containerd.WithNewSnapshot(id, image),
		containerd.WithNewSpec(specOpts...),
		containerd.WithContainerLabels(map[string]string{
			LabelPodUID:        pod.UID,
			LabelPodName:       pod.Name,
			LabelPodNamespace:  pod.Namespace,
			LabelContainerName: c.Name,
			LabelAttempt:       strconv.Itoa(opts.Attempt),
			labelLogPath:       logPath,
		}),
	)
	if err != nil {
		return "", fmt.Errorf("%s: create container (attempt %d): %w", where, opts.Attempt, err)
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

// containerEnv renders env as NAME=value, refusing unresolved references.
func containerEnv(env []api.EnvVar) ([]string, error) {
	out := make([]string, 0, len(env))
	for i, e := range env {
		if e.Name == "" {
			return nil, fmt.Errorf("env[%d]: name is empty", i)
		}
		if e.ValueFrom != nil && e.Value == "" {
			return nil, fmt.Errorf("env[%d] %q: valueFrom must be resolved to a value by the agent before the runtime runs the container", i, e.Name)
		}
		out = append(out, e.Name+"="+e.Value)
	}
	return out, nil
}

func imageConfig(ctx context.Context, image containerd.Image) (ocispec.ImageConfig, error) {
	desc, err := image.Config(ctx)
	if err != nil {
		return ocispec.ImageConfig{}, err
	}
	raw, err := content.ReadBlob(ctx, image.ContentStore(), desc)
	if err != nil {
		return ocispec.ImageConfig{}, err
	}
	var img ocispec.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return ocispec.ImageConfig{}, fmt.Errorf("decode image config: %w", err)
	}
	return img.Config, nil
}

// podDir is where per-pod files (the hostname file) live.
func (r *Runtime) podDir(uid string) string { return filepath.Join(r.cfg.DataDir, "pods", uid) }

func (r *Runtime) preparePodDir(pod Pod) (string, error) {
	dir := r.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pod dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(pod.hostname()+"\n"), 0o644); err != nil {
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
