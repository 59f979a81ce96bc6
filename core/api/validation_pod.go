package api

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	restartPolicies = []string{"Always", "OnFailure", "Never"}
	dnsPolicies     = []string{"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"}
	pullPolicies    = []string{"Always", "Never", "IfNotPresent"}
	protocols       = []string{"SCTP", "TCP", "UDP"}
	taintEffects    = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// validatePodSpec checks a pod's or a pod template's spec at path p.
func validatePodSpec(spec *PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes, volErrs := validateVolumes(spec.Volumes, p.Child("volumes"))
	errs = append(errs, volErrs...)
	names := sets.New[string]()
	for i := range spec.InitContainers {
		errs = append(errs, validateContainer(&spec.InitContainers[i], volumes, names, p.Child("initContainers").Index(i), true)...)
	}
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	for i := range spec.Containers {
		errs = append(errs, validateContainer(&spec.Containers[i], volumes, names, p.Child("containers").Index(i), false)...)
	}
	errs = append(errs, validatePodSecurityContext(spec.SecurityContext, p.Child("securityContext"))...)
	if spec.RestartPolicy != "" {
		errs = append(errs, oneOf(spec.RestartPolicy, p.Child("restartPolicy"), restartPolicies...)...)
	}
	if spec.DNSPolicy != "" {
		errs = append(errs, oneOf(spec.DNSPolicy, p.Child("dnsPolicy"), dnsPolicies...)...)
	}
	errs = append(errs, nonNegativePtr(spec.TerminationGracePeriodSeconds, p.Child("terminationGracePeriodSeconds"))...)
	if v := spec.ActiveDeadlineSeconds; v != nil && *v <= 0 {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *v, "must be between 1 and 2147483647, inclusive"))
	}
	errs = append(errs, validateLabels(spec.NodeSelector, p.Child("nodeSelector"))...)
	for _, f := range []struct{ name, value string }{{"hostname", spec.Hostname}, {"subdomain", spec.Subdomain}} {
		if f.value != "" {
			errs = append(errs, stringErrors(p.Child(f.name), f.value, validation.IsDNS1123Label(f.value))...)
		}
	}
	if sa := spec.ServiceAccountName; sa != "" {
		errs = append(errs, stringErrors(p.Child("serviceAccountName"), sa, validation.IsDNS1123Subdomain(sa))...)
	}
	for i := range spec.Tolerations {
		errs = append(errs, validateToleration(&spec.Tolerations[i], p.Child("tolerations").Index(i))...)
	}
	for i, c := range spec.TopologySpreadConstraints {
		cp := p.Child("topologySpreadConstraints").Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(cp.Child("maxSkew"), int64(c.MaxSkew), "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(cp.Child("topologyKey"), "can not be empty"))
		}
		errs = append(errs, oneOf(c.WhenUnsatisfiable, cp.Child("whenUnsatisfiable"), "DoNotSchedule", "ScheduleAnyway")...)
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		errs = append(errs, validateNodeAffinity(a.NodeAffinity, p.Child("affinity", "nodeAffinity"))...)
	}
	return errs
}

func validateVolumes(volumes []Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range volumes {
		vp := p.Index(i)
		errs = append(errs, uniqueLabelName(v.Name, names, vp.Child("name"))...)
		var sources []string
		if s := v.HostPath; s != nil {
			sources = append(sources, "hostPath")
			if s.Path == "" {
				errs = append(errs, field.Required(vp.Child("hostPath", "path"), ""))
			}
		}
		if v.EmptyDir != nil {
			sources = append(sources, "emptyDir")
			if q := v.EmptyDir.SizeLimit; q != nil && q.Sign() < 0 {
				errs = append(errs, field.Invalid(vp.Child("emptyDir", "sizeLimit"), q.String(), "must be greater than or equal to 0"))
			}
		}
		if s := v.Secret; s != nil {
			sources = append(sources, "secret")
			if s.SecretName == "" {
				errs = append(errs, field.Required(vp.Child("secret", "secretName"), ""))
			}
		}
		if s := v.ConfigMap; s != nil {
			sources = append(sources, "configMap")
			if s.Name == "" {
				errs = append(errs, field.Required(vp.Child("configMap", "name"), ""))
			}
		}
		switch {
		case len(sources) == 0:
			errs = append(errs, field.Required(vp, "must specify a volume type"))
		case len(sources) > 1:
			errs = append(errs, field.Forbidden(vp.Child(sources[1]), "may not specify more than 1 volume type"))
		}
	}
	return names, errs
}

func validateContainer(c *Container, volumes, names sets.Set[string], p *field.Path, isInit bool) field.ErrorList {
	errs := uniqueLabelName(c.Name, names, p.Child("name"))
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	}
	if c.ImagePullPolicy != "" {
		errs = append(errs, oneOf(c.ImagePullPolicy, p.Child("imagePullPolicy"), pullPolicies...)...)
	}
	portNames := sets.New[string]()
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		if port.Name != "" {
			errs = append(errs, stringErrors(pp.Child("name"), port.Name, validation.IsValidPortName(port.Name))...)
			if portNames.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames.Insert(port.Name)
		}
		errs = append(errs, portNumber(port.ContainerPort, pp.Child("containerPort"))...)
		if port.HostPort != 0 {
			errs = append(errs, portNumber(port.HostPort, pp.Child("hostPort"))...)
		}
		if port.Protocol != "" {
			errs = append(errs, oneOf(port.Protocol, pp.Child("protocol"), protocols...)...)
		}
	}
	for i, e := range c.Env {
		ep := p.Child("env").Index(i)
		if e.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			errs = append(errs, stringErrors(ep.Child("name"), e.Name, validation.IsRelaxedEnvVarName(e.Name))...)
		}
		if s := e.ValueFrom; s != nil {
			n := 0
			for _, set := range []bool{s.FieldRef != nil, s.ConfigMapKeyRef != nil, s.SecretKeyRef != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, field.Invalid(ep.Child("valueFrom"), "", "may not have more than one field specified at a time"))
			}
			if e.Value != "" {
				errs = append(errs, field.Invalid(ep.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
			}
		}
	}
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateSecurityContext(c.SecurityContext, p.Child("securityContext"))...)
	errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
	mountPaths := sets.New[string]()
	for i, m := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(mp.Child("name"), ""))
		case !volumes.Has(m.Name):
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		case mountPaths.Has(m.MountPath):
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPaths.Insert(m.MountPath)
	}
	probes := []struct {
		name  string
		probe *Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.probe == nil {
			continue
		}
		if isInit {
			errs = append(errs, field.Forbidden(p.Child(pr.name), "may not be set for init containers"))
			continue
		}
		errs = append(errs, validateProbe(pr.probe, p.Child(pr.name), pr.name != "readinessProbe")...)
	}
	return errs
}

func portNumber(port int32, p *field.Path) field.ErrorList {
	return intErrors(p, port, validation.IsValidPortNum(int(port)))
}

func intErrors(p *field.Path, value int32, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, int64(value), msg))
	}
	return errs
}

// validateIntOrStringPort checks a probe's or service's target port: a
// port number or an IANA service name.
func validateIntOrStringPort(port intstr.IntOrString, p *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		return portNumber(port.IntVal, p)
	}
	return stringErrors(p, port.StrVal, validation.IsValidPortName(port.StrVal))
}

func validateResources(r *ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		rl   ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for _, name := range sortedKeys(list.rl) {
			q := list.rl[name]
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(p.Child(list.name).Key(name), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for _, name := range sortedKeys(r.Requests) {
		req := r.Requests[name]
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(name), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

// validateProbe requires exactly one handler; liveness and startup probes
// must succeed once to count, so their successThreshold must be 1.
func validateProbe(pr *Probe, p *field.Path, successMustBeOne bool) field.ErrorList {
	var errs field.ErrorList
	var handlers []string
	if pr.Exec != nil {
		handlers = append(handlers, "exec")
		if len(pr.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if h := pr.HTTPGet; h != nil {
		handlers = append(handlers, "httpGet")
		errs = append(errs, validateIntOrStringPort(h.Port, p.Child("httpGet", "port"))...)
		if h.Scheme != "" {
			errs = append(errs, oneOf(h.Scheme, p.Child("httpGet", "scheme"), "HTTP", "HTTPS")...)
		}
	}
	if t := pr.TCPSocket; t != nil {
		handlers = append(handlers, "tcpSocket")
		errs = append(errs, validateIntOrStringPort(t.Port, p.Child("tcpSocket", "port"))...)
	}
	switch {
	case len(handlers) == 0:
		errs = append(errs, field.Required(p, "must specify a handler type"))
	case len(handlers) > 1:
		errs = append(errs, field.Forbidden(p.Child(handlers[1]), "may not specify more than 1 handler type"))
	}
	for _, f := range []struct {
		name  string
		value int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds}, {"periodSeconds", pr.PeriodSeconds},
		{"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		errs = append(errs, nonNegative(f.value, p.Child(f.name))...)
	}
	if successMustBeOne && pr.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), int64(pr.SuccessThreshold), "must be 1"))
	}
	return errs
}

func validateToleration(t *Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Key != "" {
		errs = append(errs, stringErrors(p.Child("key"), t.Key, validation.IsQualifiedName(t.Key))...)
	}
	switch t.Operator {
	case "", "Equal":
		if t.Key == "" {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		errs = append(errs, stringErrors(p.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
	case "Exists":
		if t.Value != "" {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, []string{"Equal", "Exists"}))
	}
	if t.Effect != "" {
		errs = append(errs, oneOf(t.Effect, p.Child("effect"), taintEffects...)...)
	}
	if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
		errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	return errs
}

func validateNodeAffinity(na *NodeAffinity, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
		rp := p.Child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
		if len(req.NodeSelectorTerms) == 0 {
			errs = append(errs, field.Required(rp, "must have at least one node selector term"))
		}
		for i, term := range req.NodeSelectorTerms {
			errs = append(errs, validateNodeSelectorTerm(&term, rp.Index(i))...)
		}
	}
	for i, pref := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		pp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
		if pref.Weight < 1 || pref.Weight > 100 {
			errs = append(errs, field.Invalid(pp.Child("weight"), int64(pref.Weight), "must be in the range 1-100"))
		}
		errs = append(errs, validateNodeSelectorTerm(&pref.Preference, pp.Child("preference"))...)
	}
	return errs
}

func validateNodeSelectorTerm(term *NodeSelectorTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range term.MatchExpressions {
		rp := p.Child("matchExpressions").Index(i)
		errs = append(errs, stringErrors(rp.Child("key"), r.Key, validation.IsQualifiedName(r.Key))...)
		switch r.Operator {
		case "In", "NotIn":
			if len(r.Values) == 0 {
				errs = append(errs, field.Required(rp.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case "Exists", "DoesNotExist":
			if len(r.Values) > 0 {
				errs = append(errs, field.Forbidden(rp.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		case "Gt", "Lt":
			if len(r.Values) != 1 {
				errs = append(errs, field.Required(rp.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
			}
		default:
			errs = append(errs, field.NotSupported(rp.Child("operator"), r.Operator, []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}))
		}
	}
	for i, r := range term.MatchFields {
		rp := p.Child("matchFields").Index(i)
		if r.Key != "metadata.name" {
			errs = append(errs, field.NotSupported(rp.Child("key"), r.Key, []string{"metadata.name"}))
		}
		if r.Operator != "In" && r.Operator != "NotIn" {
			errs = append(errs, field.NotSupported(rp.Child("operator"), r.Operator, []string{"In", "NotIn"}))
		}
	}
	return errs
}

// uniqueLabelName checks a required DNS-label name that must be unique
// among its siblings, and records it in seen.
func uniqueLabelName(name string, seen sets.Set[string], p *field.Path) field.ErrorList {
	defer seen.Insert(name)
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "")}
	case seen.Has(name):
		return field.ErrorList{field.Duplicate(p, name)}
	}
	return stringErrors(p, name, validation.IsDNS1123Label(name))
}
