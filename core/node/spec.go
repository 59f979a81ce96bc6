package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/runtime"
)

// containerSpec resolves c into what the runtime runs: env values, volume
// mounts, resource figures and security settings. An error is a
// configuration the container cannot run with (CreateContainerConfigError).
func (w *podWorker) containerSpec(ctx context.Context, pod *api.Pod, c *api.Container, attempt int) (runtime.ContainerSpec, error) {
	sec, err := effectiveSecurity(pod.Spec.SecurityContext, c.SecurityContext)
	if err == nil {
		sec.Seccomp, err = resolveSeccomp(w.a.cfg.SeccompDir, effectiveSeccomp(pod.Spec.SecurityContext, c.SecurityContext))
	}
	if err != nil {
		return runtime.ContainerSpec{}, fmt.Errorf("container %q: %w", c.Name, err)
	}
	if err := w.checkRunAsNonRoot(ctx, pod, c, sec); err != nil {
		return runtime.ContainerSpec{}, err
	}
	env, err := w.resolveEnv(ctx, pod, c)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	spec := runtime.ContainerSpec{
		Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: env,
		WorkingDir: c.WorkingDir, TTY: c.TTY, Attempt: attempt, Security: sec,
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
		if psc := pod.Spec.SecurityContext; psc != nil && psc.FSGroup != nil && w.isEmptyDir(pod, m.Name) {
			if err := applyFSGroup(host, *psc.FSGroup, psc.FSGroupChangePolicy == "OnRootMismatch"); err != nil {
				return runtime.ContainerSpec{}, fmt.Errorf("container %q: volume %q: %w", c.Name, m.Name, err)
			}
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
	v := podVolume(pod, volume)
	return v != nil && (v.ConfigMap != nil || v.Secret != nil)
}

func (w *podWorker) isEmptyDir(pod *api.Pod, volume string) bool {
	v := podVolume(pod, volume)
	return v != nil && v.EmptyDir != nil
}

func podVolume(pod *api.Pod, name string) *api.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// resolveEnv turns envFrom and env into values, resolving fieldRef,
// configMapKeyRef and secretKeyRef; env wins over envFrom, and a later
// envFrom source over an earlier one. Keys that are not variable names are
// skipped with an InvalidEnvironmentVariableNames event, as the kubelet
// does.
func (w *podWorker) resolveEnv(ctx context.Context, pod *api.Pod, c *api.Container) ([]runtime.EnvVar, error) {
	explicit := make([]runtime.EnvVar, 0, len(c.Env))
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			explicit = append(explicit, runtime.EnvVar{Name: e.Name, Value: e.Value})
			continue
		}
		v, ok, err := w.envValue(ctx, pod, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("container %q: env %q: %w", c.Name, e.Name, err)
		}
		if ok {
			explicit = append(explicit, runtime.EnvVar{Name: e.Name, Value: v})
		}
	}
	if len(c.EnvFrom) == 0 {
		return explicit, nil
	}
	sources := make([]envSource, 0, len(c.EnvFrom))
	for i, from := range c.EnvFrom {
		src, ok, err := w.envFromSource(ctx, pod.Namespace, from)
		if err != nil {
			return nil, fmt.Errorf("container %q: envFrom[%d]: %w", c.Name, i, err)
		}
		if ok {
			sources = append(sources, src)
		}
	}
	env, skipped := mergeEnv(sources, explicit)
	for _, s := range skipped {
		w.a.events.Eventf(pod, reconcile.EventWarning, EventInvalidEnvironmentVariableNames,
			"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
			strings.Join(s.keys, ", "), s.source.kind, pod.Namespace, s.source.name)
	}
	return env, nil
}

// EventInvalidEnvironmentVariableNames is the kubelet's reason for envFrom
// keys skipped because they are not variable names.
const EventInvalidEnvironmentVariableNames = "InvalidEnvironmentVariableNames"

// envSource is one envFrom entry's data, fetched.
type envSource struct {
	kind   string // configMap or secret, as the kubelet's event words it
	name   string
	prefix string
	data   map[string]string
}

// skippedKeys are a source's keys (prefixed, sorted) that are not variable
// names.
type skippedKeys struct {
	source *envSource
	keys   []string
}

// mergeEnv is the container's environment: every envFrom source's keys,
// prefixed, in source order and key order (a later source replaces an
// earlier one's value in place), without the names explicit sets, then
// explicit in its order.
func mergeEnv(sources []envSource, explicit []runtime.EnvVar) ([]runtime.EnvVar, []skippedKeys) {
	overridden := make(map[string]bool, len(explicit))
	for _, e := range explicit {
		overridden[e.Name] = true
	}
	var out []runtime.EnvVar
	var skipped []skippedKeys
	index := map[string]int{}
	for i := range sources {
		src := &sources[i]
		var invalid []string
		for _, key := range slices.Sorted(maps.Keys(src.data)) {
			name := src.prefix + key
			if len(validation.IsEnvVarName(name)) > 0 {
				invalid = append(invalid, name)
				continue
			}
			if overridden[name] {
				continue
			}
			if at, ok := index[name]; ok {
				out[at].Value = src.data[key]
				continue
			}
			index[name] = len(out)
			out = append(out, runtime.EnvVar{Name: name, Value: src.data[key]})
		}
		if len(invalid) > 0 {
			skipped = append(skipped, skippedKeys{source: src, keys: invalid})
		}
	}
	return append(out, explicit...), skipped
}

// envFromSource fetches the ConfigMap or Secret an envFrom entry names; ok
// is false for a missing optional one.
func (w *podWorker) envFromSource(ctx context.Context, namespace string, from api.EnvFromSource) (envSource, bool, error) {
	src := envSource{prefix: from.Prefix}
	var optional bool
	switch {
	case from.ConfigMapRef != nil:
		src.kind, src.name, optional = "configMap", from.ConfigMapRef.Name, isTrue(from.ConfigMapRef.Optional)
	case from.SecretRef != nil:
		src.kind, src.name, optional = "secret", from.SecretRef.Name, isTrue(from.SecretRef.Optional)
	default:
		return envSource{}, false, fmt.Errorf("set one of configMapRef, secretRef")
	}
	var err error
	var found bool
	src.data, found, err = w.referencedData(ctx, src.kind, namespace, src.name, optional)
	return src, found, err
}

func (w *podWorker) envValue(ctx context.Context, pod *api.Pod, src *api.EnvVarSource) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := w.fieldValue(pod, src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		return w.keyValue(ctx, "configMap", pod.Namespace, src.ConfigMapKeyRef)
	case src.SecretKeyRef != nil:
		return w.keyValue(ctx, "secret", pod.Namespace, src.SecretKeyRef)
	}
	return "", false, fmt.Errorf("valueFrom: set one of fieldRef, configMapKeyRef, secretKeyRef")
}

// keyValue is one key of a ConfigMap or Secret; ok is false when it or its
// object is missing and optional.
func (w *podWorker) keyValue(ctx context.Context, kind, namespace string, ref *api.KeySelector) (string, bool, error) {
	data, found, err := w.referencedData(ctx, kind, namespace, ref.Name, isTrue(ref.Optional))
	if err != nil || !found {
		return "", false, err
	}
	if v, ok := data[ref.Key]; ok {
		return v, true, nil
	}
	if isTrue(ref.Optional) {
		return "", false, nil
	}
	return "", false, fmt.Errorf("%s %s/%s has no key %q", strings.ToLower(kind), namespace, ref.Name, ref.Key)
}

// referencedData is the data of the ConfigMap or Secret (kind "configMap"
// or "secret") a container refers to, Secret values decoded; found is false
// when the object is missing and optional.
func (w *podWorker) referencedData(ctx context.Context, kind, namespace, name string, optional bool) (data map[string]string, found bool, err error) {
	if kind == "configMap" {
		var cm *api.ConfigMap
		if cm, err = client.Get[*api.ConfigMap](ctx, w.a.client, namespace, name); err == nil {
			data = cm.Data
		}
	} else {
		var s *api.Secret
		if s, err = client.Get[*api.Secret](ctx, w.a.client, namespace, name); err == nil {
			data = make(map[string]string, len(s.Data)+len(s.StringData))
			for k, v := range s.StringData {
				data[k] = v
			}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
	}
	if err != nil {
		if api.IsNotFound(err) && optional {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%s %s/%s: %w", strings.ToLower(kind), namespace, name, err)
	}
	return data, true, nil
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
