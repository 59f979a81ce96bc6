// Package view builds the scheduler.v1 views (sdk/scheduler Pod and Node)
// from API objects, and holds what policies need to read them: label
// requirement matching and the fields the v1 view carries as reserved
// annotations.
//
// The v1 view has no field for a pod's topology spread constraints or its
// spec.nodeName. Until the contract grows them, the scheduler passes them as
// annotations under the reserved prefix scheduler.skiff.io/, which it
// overwrites on every pod it schedules, so a user cannot forge them:
//
//	scheduler.skiff.io/topology-spread  JSON list of SpreadConstraint
//	scheduler.skiff.io/node-name        spec.nodeName, when set
//
// Any loader's policy (builtin, process, WASM) reads them with
// SpreadConstraints and NodeName, or by hand.
package view

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Reserved annotations of the pod view.
const (
	ReservedPrefix           = "scheduler.skiff.io/"
	AnnotationTopologySpread = ReservedPrefix + "topology-spread"
	AnnotationNodeName       = ReservedPrefix + "node-name"
)

// FieldNodeName is the requirement key a node affinity matchFields term on
// metadata.name becomes: the colon makes it an invalid label key, so it
// cannot collide with a node label.
const FieldNodeName = "field:metadata.name"

// Spread constraint actions, as in Kubernetes.
const (
	DoNotSchedule  = "DoNotSchedule"
	ScheduleAnyway = "ScheduleAnyway"
)

// SpreadConstraint is a pod's topology spread constraint in the view.
type SpreadConstraint struct {
	MaxSkew           int32                   `json:"maxSkew"`
	TopologyKey       string                  `json:"topologyKey"`
	WhenUnsatisfiable string                  `json:"whenUnsatisfiable"`
	Selector          []scheduler.Requirement `json:"selector"`
}

// SpreadConstraints decodes the pod's topology spread constraints.
func SpreadConstraints(pod *scheduler.Pod) ([]SpreadConstraint, error) {
	raw := pod.Annotations.Value(AnnotationTopologySpread)
	if raw == "" {
		return nil, nil
	}
	var out []SpreadConstraint
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("pod %s/%s: annotation %s: %w", pod.Namespace, pod.Name, AnnotationTopologySpread, err)
	}
	return out, nil
}

// NodeName is the pod's spec.nodeName carried in the view ("" when unset).
func NodeName(pod *scheduler.Pod) string { return pod.Annotations.Value(AnnotationNodeName) }

// matchNothing is the requirement a nil label selector becomes: as in
// Kubernetes, a nil selector in an affinity term or spread constraint
// selects no pod, while an empty one selects every pod.
var matchNothing = []scheduler.Requirement{{Key: "", Operator: "In"}}

// Matches reports whether labels satisfy every requirement (an empty list
// matches everything). Unknown operators never match.
func Matches(reqs []scheduler.Requirement, labels scheduler.Labels) bool {
	for i := range reqs {
		if !matchOne(&reqs[i], labels) {
			return false
		}
	}
	return true
}

// MatchesNode is Matches for node affinity terms, where FieldNodeName
// compares the node's name.
func MatchesNode(reqs []scheduler.Requirement, node *scheduler.Node) bool {
	for i := range reqs {
		r := &reqs[i]
		if r.Key == FieldNodeName {
			if !matchValue(r, node.Name, true) {
				return false
			}
			continue
		}
		if !matchOne(r, node.Labels) {
			return false
		}
	}
	return true
}

func matchOne(r *scheduler.Requirement, labels scheduler.Labels) bool {
	v, ok := labels.Get(r.Key)
	return matchValue(r, v, ok)
}

func matchValue(r *scheduler.Requirement, v string, ok bool) bool {
	switch r.Operator {
	case "In":
		return ok && contains(r.Values, v)
	case "NotIn":
		return !ok || !contains(r.Values, v)
	case "Exists":
		return ok
	case "DoesNotExist":
		return !ok
	case "Gt", "Lt":
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
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

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// TermsMatchNode reports whether any term matches the node (terms are ORed;
// no terms match nothing, as a required affinity with an empty list does in
// Kubernetes).
func TermsMatchNode(terms []scheduler.Term, node *scheduler.Node) bool {
	for i := range terms {
		if len(terms[i].Requirements) > 0 && MatchesNode(terms[i].Requirements, node) {
			return true
		}
	}
	return false
}

// PodInNamespaces reports whether a pod in namespace ns is in scope of a
// term listing namespaces (empty: the namespace of the pod being scheduled).
func PodInNamespaces(ns string, namespaces []string, ownNamespace string) bool {
	if len(namespaces) == 0 {
		return ns == ownNamespace
	}
	return contains(namespaces, ns)
}
