package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
)

// containerDetails writes what kubectl describe shows of a container's
// spec below its state: resources, probes, environment and mounts.
func containerDetails(w *sectionWriter, c *api.Container) {
	resources(w, "Limits", c.Resources.Limits)
	resources(w, "Requests", c.Resources.Requests)
	for _, p := range []struct {
		label string
		probe *api.Probe
	}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
		if p.probe != nil {
			w.field(2, p.label, describeProbe(p.probe))
		}
	}
	if len(c.EnvFrom) > 0 {
		w.field(2, "Environment Variables from", "")
		for _, f := range c.EnvFrom {
			name, kind, optional := "", "ConfigMap", (*bool)(nil)
			if f.ConfigMapRef != nil {
				name, optional = f.ConfigMapRef.Name, f.ConfigMapRef.Optional
			} else if f.SecretRef != nil {
				name, kind, optional = f.SecretRef.Name, "Secret", f.SecretRef.Optional
			}
			line := fmt.Sprintf("%s  %s  Optional: %t", name, kind, optional != nil && *optional)
			if f.Prefix != "" {
				line = fmt.Sprintf("%s  %s with prefix '%s'  Optional: %t", name, kind, f.Prefix, optional != nil && *optional)
			}
			w.text(3, line)
		}
	}
	if len(c.Env) == 0 {
		w.field(2, "Environment", "<none>")
	} else {
		w.field(2, "Environment", "")
		for _, e := range c.Env {
			w.field(3, e.Name, envValue(e))
		}
	}
	if len(c.VolumeMounts) == 0 {
		w.field(2, "Mounts", "<none>")
		return
	}
	w.field(2, "Mounts", "")
	for _, m := range c.VolumeMounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		path := m.MountPath
		if m.SubPath != "" {
			path += fmt.Sprintf(" (path %q)", m.SubPath)
		}
		w.text(3, fmt.Sprintf("%s from %s (%s)", path, m.Name, mode))
	}
}

func resources(w *sectionWriter, label string, rl api.ResourceList) {
	if len(rl) == 0 {
		return
	}
	w.field(2, label, "")
	names := make([]string, 0, len(rl))
	for name := range rl {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		q := rl[name]
		w.field(3, name, q.String())
	}
}

// describeProbe is kubectl's one-line probe summary, e.g.
// "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3".
func describeProbe(p *api.Probe) string {
	var action string
	switch {
	case p.HTTPGet != nil:
		scheme := strings.ToLower(orDefault(p.HTTPGet.Scheme, "HTTP"))
		action = fmt.Sprintf("http-get %s://%s:%s%s", scheme, p.HTTPGet.Host, p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		action = fmt.Sprintf("tcp-socket %s:%s", p.TCPSocket.Host, p.TCPSocket.Port.String())
	case p.Exec != nil:
		action = fmt.Sprintf("exec %v", p.Exec.Command)
	default:
		action = "unknown"
	}
	orOne := func(v int32, def int32) int32 {
		if v == 0 {
			return def
		}
		return v
	}
	return fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", action,
		p.InitialDelaySeconds, orOne(p.TimeoutSeconds, 1), orOne(p.PeriodSeconds, 10), orOne(p.SuccessThreshold, 1), orOne(p.FailureThreshold, 3))
}

// envValue is how kubectl shows one variable: its value, or where it
// comes from.
func envValue(e api.EnvVar) string {
	src := e.ValueFrom
	switch {
	case src == nil:
		return e.Value
	case src.FieldRef != nil:
		return fmt.Sprintf(" (%s:%s)", orDefault(src.FieldRef.APIVersion, "v1"), src.FieldRef.FieldPath)
	case src.ConfigMapKeyRef != nil:
		r := src.ConfigMapKeyRef
		return fmt.Sprintf("<set to the key '%s' of config map '%s'>  Optional: %t", r.Key, r.Name, r.Optional != nil && *r.Optional)
	case src.SecretKeyRef != nil:
		r := src.SecretKeyRef
		return fmt.Sprintf("<set to the key '%s' in secret '%s'>  Optional: %t", r.Key, r.Name, r.Optional != nil && *r.Optional)
	}
	return ""
}
