package daemonset

import (
	"slices"
	"strconv"

	"github.com/skiff-sh/skiff/core/api"
)

// Taints the node lifecycle controller and the node agent put on nodes.
const (
	TaintNotReady           = "node.kubernetes.io/not-ready"
	TaintUnreachable        = "node.kubernetes.io/unreachable"
	TaintUnschedulable      = "node.kubernetes.io/unschedulable"
	TaintDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintPIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// DaemonTolerations are the tolerations Kubernetes adds to every DaemonSet
// pod: a daemon keeps running on a node that is not ready, unreachable,
// cordoned or under resource pressure. Host-network daemons (the network
// plugin itself) also tolerate an unconfigured network.
func DaemonTolerations(hostNetwork bool) []api.Toleration {
	t := []api.Toleration{
		{Key: TaintNotReady, Operator: "Exists", Effect: "NoExecute"},
		{Key: TaintUnreachable, Operator: "Exists", Effect: "NoExecute"},
		{Key: TaintDiskPressure, Operator: "Exists", Effect: "NoSchedule"},
		{Key: TaintMemoryPressure, Operator: "Exists", Effect: "NoSchedule"},
		{Key: TaintPIDPressure, Operator: "Exists", Effect: "NoSchedule"},
		{Key: TaintUnschedulable, Operator: "Exists", Effect: "NoSchedule"},
	}
	if hostNetwork {
		t = append(t, api.Toleration{Key: TaintNetworkUnavailable, Operator: "Exists", Effect: "NoSchedule"})
	}
	return t
}

// withDaemonTolerations returns spec's tolerations plus the daemon ones it
// lacks (a user's own toleration of the same key and effect wins).
func withDaemonTolerations(spec *api.PodSpec) []api.Toleration {
	out := slices.Clone(spec.Tolerations)
	for _, d := range DaemonTolerations(spec.HostNetwork) {
		if !slices.ContainsFunc(out, func(t api.Toleration) bool { return t.Key == d.Key && t.Effect == d.Effect }) {
			out = append(out, d)
		}
	}
	return out
}

// NodeShouldRunDaemonPod decides for one node, as Kubernetes'
// NodeShouldRunDaemonPod does: shouldRun says a daemon pod belongs there
// (node selector, required node affinity, and every NoSchedule and
// NoExecute taint tolerated); shouldContinue says an existing one may stay
// (only untolerated NoExecute taints and a selector mismatch evict it).
// spec.unschedulable is ignored: daemons run on cordoned nodes.
func NodeShouldRunDaemonPod(node *api.Node, spec *api.PodSpec) (shouldRun, shouldContinue bool) {
	return nodeShouldRun(node, spec, withDaemonTolerations(spec))
}

// nodeShouldRun is NodeShouldRunDaemonPod with the pod's full tolerations
// computed once for all nodes.
func nodeShouldRun(node *api.Node, spec *api.PodSpec, tolerations []api.Toleration) (shouldRun, shouldContinue bool) {
	if !matchesNodeSelector(node, spec) {
		return false, false
	}
	shouldRun, shouldContinue = true, true
	for i := range node.Spec.Taints {
		taint := &node.Spec.Taints[i]
		if taint.Effect != "NoSchedule" && taint.Effect != "NoExecute" {
			continue
		}
		if api.TolerationsTolerateTaint(tolerations, taint) {
			continue
		}
		shouldRun = false
		if taint.Effect == "NoExecute" {
			shouldContinue = false
		}
	}
	return shouldRun, shouldContinue
}

// matchesNodeSelector checks spec.nodeSelector and the required node
// affinity terms (ORed; requirements within a term ANDed).
func matchesNodeSelector(node *api.Node, spec *api.PodSpec) bool {
	for k, v := range spec.NodeSelector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(node, &term) {
			return true
		}
	}
	return false
}

// termMatches: an empty term matches nothing, as in Kubernetes.
func termMatches(node *api.Node, term *api.NodeSelectorTerm) bool {
	if len(term.MatchExpressions)+len(term.MatchFields) == 0 {
		return false
	}
	for _, r := range term.MatchExpressions {
		v, ok := node.Labels[r.Key]
		if !requirementMatches(r, v, ok) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		// metadata.name is the only field Kubernetes supports here.
		if r.Key != "metadata.name" || !requirementMatches(r, node.Name, true) {
			return false
		}
	}
	return true
}

func requirementMatches(r api.NodeSelectorRequirement, value string, present bool) bool {
	switch r.Operator {
	case "In":
		return present && slices.Contains(r.Values, value)
	case "NotIn":
		return !present || !slices.Contains(r.Values, value)
	case "Exists":
		return present
	case "DoesNotExist":
		return !present
	case "Gt", "Lt":
		if !present || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(value, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == "Gt" {
			return have > want
		}
		return have < want
	}
	return false
}
