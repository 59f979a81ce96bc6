package view

import (
	"encoding/json"
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Resource names with a field of their own in scheduler.Resources.
const (
	resourceCPU     = "cpu"
	resourceMemory  = "memory"
	resourceStorage = "ephemeral-storage"
	resourcePods    = "pods"
)

// Resources converts a resource list: cpu in millicores, the rest in their
// integer unit.
func Resources(list api.ResourceList) scheduler.Resources {
	var r scheduler.Resources
	for name, q := range list {
		switch name {
		case resourceCPU:
			r.MilliCPU = q.MilliValue()
		case resourceMemory:
			r.Memory = q.Value()
		case resourceStorage:
			r.EphemeralStorage = q.Value()
		case resourcePods:
			r.Pods = q.Value()
		default:
			if r.Extended == nil {
				r.Extended = map[string]int64{}
			}
			r.Extended[name] = q.Value()
		}
	}
	return r
}

// Pod builds the view of a pod to schedule. It fails only on a spread
// constraint that cannot be encoded, which validation prevents.
func Pod(p *api.Pod) (*scheduler.Pod, error) {
	v := &scheduler.Pod{
		Namespace: p.Namespace, Name: p.Name, UID: p.UID,
		Labels:       scheduler.MakeLabels(p.Labels),
		Requests:     Resources(api.PodRequests(p)),
		NodeSelector: scheduler.MakeLabels(p.Spec.NodeSelector),
		HostPorts:    hostPorts(p),
	}
	v.Requests.Pods = 1
	if p.Spec.Priority != nil {
		v.Priority = *p.Spec.Priority
	}
	for _, t := range p.Spec.Tolerations {
		v.Tolerations = append(v.Tolerations, scheduler.Toleration{Key: t.Key, Operator: t.Operator, Value: t.Value, Effect: t.Effect})
	}
	v.Affinity = affinity(p.Spec.Affinity)
	annotations, err := reservedAnnotations(p)
	if err != nil {
		return nil, err
	}
	v.Annotations = scheduler.MakeLabels(annotations)
	return v, nil
}

// reservedAnnotations copies the pod's annotations without the reserved
// prefix, then sets the reserved ones from the spec.
func reservedAnnotations(p *api.Pod) (map[string]string, error) {
	out := p.Annotations
	forged := false
	for k := range p.Annotations {
		if len(k) >= len(ReservedPrefix) && k[:len(ReservedPrefix)] == ReservedPrefix {
			forged = true
		}
	}
	if !forged && len(p.Spec.TopologySpreadConstraints) == 0 && p.Spec.NodeName == "" {
		return out, nil
	}
	out = make(map[string]string, len(p.Annotations)+2)
	for k, v := range p.Annotations {
		if len(k) < len(ReservedPrefix) || k[:len(ReservedPrefix)] != ReservedPrefix {
			out[k] = v
		}
	}
	if p.Spec.NodeName != "" {
		out[AnnotationNodeName] = p.Spec.NodeName
	}
	if cs := p.Spec.TopologySpreadConstraints; len(cs) > 0 {
		spread := make([]SpreadConstraint, len(cs))
		for i, c := range cs {
			spread[i] = SpreadConstraint{MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey, WhenUnsatisfiable: c.WhenUnsatisfiable,
				Selector: LabelSelector(c.LabelSelector)}
		}
		b, err := json.Marshal(spread)
		if err != nil {
			return nil, fmt.Errorf("pod %s/%s: spec.topologySpreadConstraints: %w", p.Namespace, p.Name, err)
		}
		out[AnnotationTopologySpread] = string(b)
	}
	return out, nil
}

func hostPorts(p *api.Pod) []int32 {
	var ports []int32
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort > 0 {
				ports = append(ports, port.HostPort)
			}
		}
	}
	return ports
}

// LabelSelector converts a structured selector to requirements: matchLabels
// become In requirements. A nil selector matches nothing, an empty one
// everything.
func LabelSelector(ls *api.LabelSelector) []scheduler.Requirement {
	if ls == nil {
		return matchNothing
	}
	out := make([]scheduler.Requirement, 0, len(ls.MatchLabels)+len(ls.MatchExpressions))
	for k, v := range ls.MatchLabels {
		out = append(out, scheduler.Requirement{Key: k, Operator: "In", Values: []string{v}})
	}
	for _, e := range ls.MatchExpressions {
		out = append(out, scheduler.Requirement{Key: e.Key, Operator: e.Operator, Values: e.Values})
	}
	return out
}

func nodeTerm(t api.NodeSelectorTerm) scheduler.Term {
	reqs := make([]scheduler.Requirement, 0, len(t.MatchExpressions)+len(t.MatchFields))
	for _, e := range t.MatchExpressions {
		reqs = append(reqs, scheduler.Requirement{Key: e.Key, Operator: e.Operator, Values: e.Values})
	}
	for _, f := range t.MatchFields {
		key := f.Key
		if key == "metadata.name" {
			key = FieldNodeName
		}
		reqs = append(reqs, scheduler.Requirement{Key: key, Operator: f.Operator, Values: f.Values})
	}
	return scheduler.Term{Requirements: reqs}
}

func podTerm(t api.PodAffinityTerm, weight int32) scheduler.PodAffinityTerm {
	return scheduler.PodAffinityTerm{Selector: LabelSelector(t.LabelSelector), Namespaces: t.Namespaces, TopologyKey: t.TopologyKey, Weight: weight}
}

func affinity(a *api.Affinity) *scheduler.Affinity {
	if a == nil {
		return nil
	}
	out := &scheduler.Affinity{}
	if na := a.NodeAffinity; na != nil {
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			out.NodeRequired = make([]scheduler.Term, 0, len(req.NodeSelectorTerms))
			for _, t := range req.NodeSelectorTerms {
				out.NodeRequired = append(out.NodeRequired, nodeTerm(t))
			}
			if len(out.NodeRequired) == 0 {
				// An empty required list matches no node; keep it non-nil
				// so policies can tell it from "no requirement".
				out.NodeRequired = []scheduler.Term{}
			}
		}
		for _, p := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			out.NodePreferred = append(out.NodePreferred, scheduler.WeightedTerm{Weight: p.Weight, Term: nodeTerm(p.Preference)})
		}
	}
	if pa := a.PodAffinity; pa != nil {
		for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			out.PodAffinity = append(out.PodAffinity, podTerm(t, 0))
		}
		for _, t := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			out.PodAffinity = append(out.PodAffinity, podTerm(t.PodAffinityTerm, t.Weight))
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			out.PodAntiAffinity = append(out.PodAntiAffinity, podTerm(t, 0))
		}
		for _, t := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			out.PodAntiAffinity = append(out.PodAntiAffinity, podTerm(t.PodAffinityTerm, t.Weight))
		}
	}
	return out
}

// Node builds the view of a node without its pods: Allocated and Pods are
// filled by the scheduler's cache. Allocatable falls back to capacity.
func Node(n *api.Node) *scheduler.Node {
	alloc := n.Status.Allocatable
	if len(alloc) == 0 {
		alloc = n.Status.Capacity
	}
	v := &scheduler.Node{Name: n.Name, Labels: scheduler.MakeLabels(n.Labels), Unschedulable: n.Spec.Unschedulable, Allocatable: Resources(alloc)}
	for _, t := range n.Spec.Taints {
		v.Taints = append(v.Taints, scheduler.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	return v
}

// PodRef is the view of a pod placed on a node.
func PodRef(p *api.Pod) scheduler.PodRef {
	return scheduler.PodRef{Namespace: p.Namespace, Name: p.Name, Labels: scheduler.MakeLabels(p.Labels), HostPorts: hostPorts(p)}
}
