package api

import (
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var serviceTypes = []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}

func validateService(s *Service) field.ErrorList {
	p := field.NewPath("spec")
	spec := &s.Spec
	var errs field.ErrorList
	if spec.Type != "" {
		errs = append(errs, oneOf(spec.Type, p.Child("type"), serviceTypes...)...)
	}
	headless := spec.ClusterIP == "None"
	if spec.Type == "ExternalName" {
		switch {
		case spec.ExternalName == "":
			errs = append(errs, field.Required(p.Child("externalName"), ""))
		default:
			name := strings.TrimSuffix(spec.ExternalName, ".")
			errs = append(errs, stringErrors(p.Child("externalName"), spec.ExternalName, validation.IsDNS1123Subdomain(name))...)
		}
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(p.Child("clusterIP"), "may not be set for ExternalName services"))
		}
	} else if len(spec.Ports) == 0 && !headless {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}
	if spec.ClusterIP != "" && !headless && net.ParseIP(spec.ClusterIP) == nil {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), spec.ClusterIP, "must be empty, 'None', or a valid IP address"))
	}
	for i, ip := range spec.ExternalIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, field.Invalid(p.Child("externalIPs").Index(i), ip, "must be a valid IP address"))
		}
	}
	names := sets.New[string]()
	type portKey struct {
		port     int32
		protocol string
	}
	seen := sets.New[portKey]()
	for i, port := range spec.Ports {
		pp := p.Child("ports").Index(i)
		switch {
		case port.Name == "" && len(spec.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), "must be set when a service has more than one port"))
		case port.Name != "" && names.Has(port.Name):
			errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
		case port.Name != "":
			errs = append(errs, stringErrors(pp.Child("name"), port.Name, validation.IsDNS1123Label(port.Name))...)
		}
		names.Insert(port.Name)
		errs = append(errs, portNumber(port.Port, pp.Child("port"))...)
		if port.Protocol != "" {
			errs = append(errs, oneOf(port.Protocol, pp.Child("protocol"), protocols...)...)
		}
		if key := (portKey{port.Port, port.Protocol}); seen.Has(key) {
			errs = append(errs, field.Duplicate(pp, fmt.Sprintf("%d/%s", port.Port, port.Protocol)))
		} else {
			seen.Insert(key)
		}
		if !isZeroIntOrString(port.TargetPort) {
			errs = append(errs, validateIntOrStringPort(port.TargetPort, pp.Child("targetPort"))...)
		}
		// The node-port range is the allocator's business, which knows it.
		if port.NodePort != 0 {
			if spec.Type != "NodePort" && spec.Type != "LoadBalancer" {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
			} else {
				errs = append(errs, portNumber(port.NodePort, pp.Child("nodePort"))...)
			}
		}
	}
	if spec.SessionAffinity != "" {
		errs = append(errs, oneOf(spec.SessionAffinity, p.Child("sessionAffinity"), "ClientIP", "None")...)
	}
	if c := spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t < 1 || t > 86400 {
			errs = append(errs, field.Invalid(p.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), int64(t), "must be greater than 0 and less than 86400"))
		}
	}
	if spec.ExternalTrafficPolicy != "" {
		if spec.Type != "NodePort" && spec.Type != "LoadBalancer" {
			errs = append(errs, field.Invalid(p.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
		} else {
			errs = append(errs, oneOf(spec.ExternalTrafficPolicy, p.Child("externalTrafficPolicy"), "Cluster", "Local")...)
		}
	}
	return append(errs, validateLabels(spec.Selector, p.Child("selector"))...)
}

func isZeroIntOrString(v intstr.IntOrString) bool {
	return v.Type == intstr.Int && v.IntVal == 0 || v.Type == intstr.String && v.StrVal == ""
}

func validateEndpoints(e *Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, subset := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for _, list := range []struct {
			name  string
			addrs []EndpointAddress
		}{{"addresses", subset.Addresses}, {"notReadyAddresses", subset.NotReadyAddresses}} {
			for j, a := range list.addrs {
				if net.ParseIP(a.IP) == nil {
					errs = append(errs, field.Invalid(sp.Child(list.name).Index(j).Child("ip"), a.IP, "must be a valid IP address"))
				}
			}
		}
		names := sets.New[string]()
		for j, port := range subset.Ports {
			pp := sp.Child("ports").Index(j)
			if port.Name == "" && len(subset.Ports) > 1 {
				errs = append(errs, field.Required(pp.Child("name"), "must be set when a subset has more than one port"))
			} else if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
			errs = append(errs, portNumber(port.Port, pp.Child("port"))...)
			if port.Protocol != "" {
				errs = append(errs, oneOf(port.Protocol, pp.Child("protocol"), protocols...)...)
			}
		}
	}
	return errs
}

// maxConfigSize is Kubernetes' limit on a ConfigMap's or Secret's data, kept
// well under etcd's default request limit.
const maxConfigSize = 1 << 20

func validateConfigData(data map[string]string, binary map[string][]byte) field.ErrorList {
	dataPath := field.NewPath("data")
	var errs field.ErrorList
	size := 0
	for _, k := range sortedKeys(data) {
		errs = append(errs, stringErrors(dataPath, k, validation.IsConfigMapKey(k))...)
		size += len(data[k])
	}
	for _, k := range sortedKeys(binary) {
		bp := field.NewPath("binaryData")
		errs = append(errs, stringErrors(bp, k, validation.IsConfigMapKey(k))...)
		if _, dup := data[k]; dup {
			errs = append(errs, field.Invalid(bp, k, "duplicate of key present in data"))
		}
		size += len(binary[k])
	}
	if size > maxConfigSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxConfigSize))
	}
	return errs
}

// secretRequiredKeys lists the keys the well-known secret types must carry.
var secretRequiredKeys = map[string][]string{
	"kubernetes.io/tls":              {"tls.crt", "tls.key"},
	"kubernetes.io/dockerconfigjson": {".dockerconfigjson"},
	"kubernetes.io/ssh-auth":         {"ssh-privatekey"},
}

func validateSecret(s *Secret) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, stringErrors(field.NewPath("data"), k, validation.IsConfigMapKey(k))...)
		size += len(s.Data[k])
	}
	for _, k := range sortedKeys(s.StringData) {
		errs = append(errs, stringErrors(field.NewPath("stringData"), k, validation.IsConfigMapKey(k))...)
	}
	if size > maxConfigSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", maxConfigSize))
	}
	for _, key := range secretRequiredKeys[s.Type] {
		_, inData := s.Data[key]
		_, inString := s.StringData[key]
		if !inData && !inString {
			errs = append(errs, field.Required(field.NewPath("data").Key(key), ""))
		}
	}
	return errs
}

func validateEvent(e *Event) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("involvedObject")
	if e.InvolvedObject.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	}
	if e.InvolvedObject.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if ns := e.InvolvedObject.Namespace; ns != "" && ns != e.Namespace {
		errs = append(errs, field.Invalid(p.Child("namespace"), ns, "does not match event.namespace"))
	}
	if e.Type != "" {
		errs = append(errs, oneOf(e.Type, field.NewPath("type"), "Normal", "Warning")...)
	}
	if len(e.Reason) > 128 {
		errs = append(errs, field.TooLong(field.NewPath("reason"), "", 128))
	}
	return append(errs, nonNegative(e.Count, field.NewPath("count"))...)
}

func validateLease(l *Lease) field.ErrorList {
	p := field.NewPath("spec")
	errs := positivePtr(l.Spec.LeaseDurationSeconds, p.Child("leaseDurationSeconds"))
	return append(errs, nonNegativePtr(l.Spec.LeaseTransitions, p.Child("leaseTransitions"))...)
}

func validateNode(n *Node) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	cidrs := n.Spec.PodCIDRs
	if n.Spec.PodCIDR != "" && len(cidrs) == 0 {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for i, c := range cidrs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			errs = append(errs, field.Invalid(p.Child("podCIDRs").Index(i), c, "must be a valid CIDR such as 10.244.1.0/24"))
		}
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(p.Child("podCIDR"), n.Spec.PodCIDR, "must match the first entry of podCIDRs"))
	}
	type taintKey struct{ key, effect string }
	seen := sets.New[taintKey]()
	for i, t := range n.Spec.Taints {
		tp := p.Child("taints").Index(i)
		if t.Key == "" {
			errs = append(errs, field.Required(tp.Child("key"), ""))
		} else {
			errs = append(errs, stringErrors(tp.Child("key"), t.Key, validation.IsQualifiedName(t.Key))...)
		}
		errs = append(errs, stringErrors(tp.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		errs = append(errs, oneOf(t.Effect, tp.Child("effect"), taintEffects...)...)
		if k := (taintKey{t.Key, t.Effect}); seen.Has(k) {
			errs = append(errs, field.Duplicate(tp, t.Key+":"+t.Effect))
		} else {
			seen.Insert(k)
		}
	}
	return errs
}
