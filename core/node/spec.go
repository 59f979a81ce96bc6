package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// containerSpec resolves c into what the runtime runs: env values, volume
// mounts and resource figures.
func (w *podWorker) containerSpec(ctx context.Context, pod *api.Pod, c *api.Container, attempt int) (runtime.ContainerSpec, error) {
	env, err := w.resolveEnv(ctx, pod, c)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	spec := runtime.ContainerSpec{
		Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: env,
		WorkingDir: c.WorkingDir, TTY: c.TTY, Attempt: attempt,
	}
	if q, ok := c.Resources.Requests["cpu"]; ok {
		spec.CPURequestMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits["cpu"]; ok {
		spec.CPULimitMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits["memory"]; ok {
		spec.MemoryLimitBytes = q.Value()
	}
	for _, m := range c.VolumeMounts {
		host, ok := w.volumes.dirs[m.Name]
		if !ok {
			return runtime.ContainerSpec{}, fmt.Errorf("container %q: volumeMount %q: no volume of that name in the pod", c.Name, m.Name)
		}
		if m.SubPath != "" {
			if filepath.IsAbs(m.SubPath) || strings.Contains(m.SubPath, "..") {
				return runtime.ContainerSpec{}, fmt.Errorf("container %q: volumeMount %q: subPath %q must be relative without '..'", c.Name, m.Name, m.SubPath)
			}
			host = filepath.Join(host, m.SubPath)
			if _, err := os.Stat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return runtime.ContainerSpec{}, fmt.Errorf("container %q: volumeMount %q: %w", c.Name, m.Name, err)
				}
			}
		}
		readOnly := m.ReadOnly || w.isProjected(pod, m.Name)
		spec.Mounts = append(spec.Mounts, runtime.Mount{HostPath: host, ContainerPath: m.MountPath, ReadOnly: readOnly})
	}
	return spec, nil
}

func (w *podWorker) isProjected(pod *api.Pod, volume string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume {
			return v.ConfigMap != nil || v.Secret != nil
		}
	}
	return false
}

// resolveEnv turns env into values, resolving fieldRef, configMapKeyRef and
// secretKeyRef.
func (w *podWorker) resolveEnv(ctx context.Context, pod *api.Pod, c *api.Container) ([]runtime.EnvVar, error) {
	out := make([]runtime.EnvVar, 0, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			out = append(out, runtime.EnvVar{Name: e.Name, Value: e.Value})
			continue
		}
		v, ok, err := w.envValue(ctx, pod, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("container %q: env %q: %w", c.Name, e.Name, err)
		}
		if ok {
			out = append(out, runtime.EnvVar{Name: e.Name, Value: v})
		}
	}
	return out, nil
}

func (w *podWorker) envValue(ctx context.Context, pod *api.Pod, src *api.EnvVarSource) (string, bool, error) {
	optional := func(k *api.KeySelector) bool { return k.Optional != nil && *k.Optional }
	switch {
	case src.FieldRef != nil:
		v, err := w.fieldValue(pod, src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := client.Get[*api.ConfigMap](ctx, w.a.client, pod.Namespace, ref.Name)
		if err != nil {
			if api.IsNotFound(err) && optional(ref) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %s/%s: %w", pod.Namespace, ref.Name, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if optional(ref) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("configmap %s/%s has no key %q", pod.Namespace, ref.Name, ref.Key)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := client.Get[*api.Secret](ctx, w.a.client, pod.Namespace, ref.Name)
		if err != nil {
			if api.IsNotFound(err) && optional(ref) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %s/%s: %w", pod.Namespace, ref.Name, err)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if v, ok := s.StringData[ref.Key]; ok {
			return v, true, nil
		}
		if optional(ref) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("secret %s/%s has no key %q", pod.Namespace, ref.Name, ref.Key)
	}
	return "", false, fmt.Errorf("valueFrom: set one of fieldRef, configMapKeyRef, secretKeyRef")
}

// fieldValue is a pod field for the downward API.
func (w *podWorker) fieldValue(pod *api.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return pod.UID, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return w.a.nodeIPs[0], nil
	case "status.podIP", "status.podIPs":
		return w.podIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return m[strings.TrimSuffix(rest, "']")], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q: unsupported (use metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.hostIP, status.podIP)", path)
}

// writeDNSFiles writes the pod's resolv.conf and hosts.
func (w *podWorker) writeDNSFiles(pod *api.Pod) error {
	dir := w.a.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pod files: %w", err)
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, w.resolvConf(pod), 0o644); err != nil {
		return fmt.Errorf("pod resolv.conf: %w", err)
	}
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	var hosts bytes.Buffer
	hosts.WriteString("# managed by skiff\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if w.podIP != "" && !pod.Spec.HostNetwork {
		fmt.Fprintf(&hosts, "%s\t%s\n", w.podIP, hostname)
	}
	hostsPath := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostsPath, hosts.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pod hosts: %w", err)
	}
	w.volumes.resolvConf, w.volumes.hosts = resolv, hostsPath
	return nil
}

// resolvConf is the cluster DNS for ClusterFirst pods when the agent knows
// it, else the node's own resolv.conf (dnsPolicy Default, or no cluster
// DNS configured).
func (w *podWorker) resolvConf(pod *api.Pod) []byte {
	policy := pod.Spec.DNSPolicy
	clusterFirst := policy == "" || policy == "ClusterFirst" || (policy == "ClusterFirstWithHostNet" && pod.Spec.HostNetwork)
	if clusterFirst && len(w.a.cfg.ClusterDNS) > 0 {
		var b bytes.Buffer
		d := w.a.cfg.ClusterDomain
		for _, ns := range w.a.cfg.ClusterDNS {
			fmt.Fprintf(&b, "nameserver %s\n", ns)
		}
		fmt.Fprintf(&b, "search %s.svc.%s svc.%s %s\noptions ndots:5\n", pod.Namespace, d, d, d)
		return b.Bytes()
	}
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return []byte("# the node has no /etc/resolv.conf\n")
	}
	if pod.Spec.HostNetwork {
		return data
	}
	// A loopback resolver (systemd-resolved's 127.0.0.53) is unreachable
	// from the pod's network namespace: drop it.
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		b.WriteString(sc.Text() + "\n")
	}
	return b.Bytes()
}
