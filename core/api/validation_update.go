package api

import (
	"bytes"
	"encoding/json"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateSpecUpdate checks the immutability rules of each kind.
func validateSpecUpdate(newObj, oldObj Object) field.ErrorList {
	spec := field.NewPath("spec")
	switch n := newObj.(type) {
	case *Pod:
		return validatePodSpecUpdate(&n.Spec, &oldObj.(*Pod).Spec, spec)
	case *Service:
		o := oldObj.(*Service)
		// The IP is allocated once; only turning into an ExternalName frees it.
		if o.Spec.ClusterIP != "" && n.Spec.Type != "ExternalName" && o.Spec.Type != "ExternalName" {
			return immutable(n.Spec.ClusterIP, o.Spec.ClusterIP, spec.Child("clusterIP"))
		}
	case *ConfigMap:
		o := oldObj.(*ConfigMap)
		if isTrue(o.Immutable) {
			return immutableConfig(n.Immutable, !semanticEqual(n.Data, o.Data) || !semanticEqual(n.BinaryData, o.BinaryData))
		}
	case *Secret:
		o := oldObj.(*Secret)
		errs := immutable(n.Type, o.Type, field.NewPath("type"))
		if isTrue(o.Immutable) {
			errs = append(errs, immutableConfig(n.Immutable, !semanticEqual(n.Data, o.Data))...)
		}
		return errs
	case *Node:
		o := oldObj.(*Node)
		if o.Spec.PodCIDR != "" {
			return immutable(n.Spec.PodCIDR, o.Spec.PodCIDR, spec.Child("podCIDR"))
		}
	case *Deployment:
		return immutable(n.Spec.Selector, oldObj.(*Deployment).Spec.Selector, spec.Child("selector"))
	case *ReplicaSet:
		return immutable(n.Spec.Selector, oldObj.(*ReplicaSet).Spec.Selector, spec.Child("selector"))
	case *DaemonSet:
		return immutable(n.Spec.Selector, oldObj.(*DaemonSet).Spec.Selector, spec.Child("selector"))
	case *StatefulSet:
		return validateStatefulSetUpdate(n, oldObj.(*StatefulSet), spec)
	case *Job:
		o := oldObj.(*Job)
		errs := immutable(n.Spec.Selector, o.Spec.Selector, spec.Child("selector"))
		errs = append(errs, immutable(n.Spec.Completions, o.Spec.Completions, spec.Child("completions"))...)
		errs = append(errs, immutable(n.Spec.CompletionMode, o.Spec.CompletionMode, spec.Child("completionMode"))...)
		return append(errs, immutable(n.Spec.Template, o.Spec.Template, spec.Child("template"))...)
	}
	return nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func immutableConfig(newImmutable *bool, dataChanged bool) field.ErrorList {
	var errs field.ErrorList
	if !isTrue(newImmutable) {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	if dataChanged {
		errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
	}
	return errs
}

// validatePodSpecUpdate allows only what Kubernetes allows a running pod to
// change: container images, a shorter or new activeDeadlineSeconds, and
// added tolerations. nodeName is set only through the binding subresource.
func validatePodSpecUpdate(newSpec, oldSpec *PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if newSpec.NodeName != oldSpec.NodeName {
		errs = append(errs, field.Forbidden(p.Child("nodeName"), "may not be changed by an update; pods are bound to nodes through the pods/binding subresource"))
	}
	if n, o := newSpec.ActiveDeadlineSeconds, oldSpec.ActiveDeadlineSeconds; o != nil && (n == nil || *n > *o) {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), n, "must be less than or equal to previous value"))
	}
	// Apply every allowed change to a copy of the old spec; whatever still
	// differs was not allowed.
	allowed := DeepCopy(&Pod{Spec: *oldSpec}).Spec
	allowed.NodeName = newSpec.NodeName
	allowed.ActiveDeadlineSeconds = newSpec.ActiveDeadlineSeconds
	if len(newSpec.Containers) == len(allowed.Containers) {
		for i := range allowed.Containers {
			allowed.Containers[i].Image = newSpec.Containers[i].Image
		}
	}
	if len(newSpec.InitContainers) == len(allowed.InitContainers) {
		for i := range allowed.InitContainers {
			allowed.InitContainers[i].Image = newSpec.InitContainers[i].Image
		}
	}
	if hasAllTolerations(newSpec.Tolerations, oldSpec.Tolerations) {
		allowed.Tolerations = newSpec.Tolerations
	}
	if !semanticEqual(*newSpec, allowed) {
		errs = append(errs, field.Forbidden(p, "pod updates may not change fields other than `spec.containers[*].image`, "+
			"`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)"))
	}
	return errs
}

func hasAllTolerations(newTols, oldTols []Toleration) bool {
	for _, o := range oldTols {
		found := false
		for _, n := range newTols {
			if semanticEqual(n, o) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// validateStatefulSetUpdate: a StatefulSet's identity (selector, service,
// pod management) is fixed; replicas, template and update strategy may change.
func validateStatefulSetUpdate(n, o *StatefulSet, p *field.Path) field.ErrorList {
	errs := immutable(n.Spec.Selector, o.Spec.Selector, p.Child("selector"))
	mutable := o.Spec
	mutable.Replicas = n.Spec.Replicas
	mutable.Template = n.Spec.Template
	mutable.UpdateStrategy = n.Spec.UpdateStrategy
	mutable.MinReadySeconds = n.Spec.MinReadySeconds
	mutable.RevisionHistoryLimit = n.Spec.RevisionHistoryLimit
	mutable.Selector = n.Spec.Selector
	if !semanticEqual(mutable, n.Spec) {
		errs = append(errs, field.Forbidden(p, "updates to statefulset spec for fields other than 'replicas', 'template', 'updateStrategy', 'revisionHistoryLimit' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

// semanticEqual compares values as they are stored, so nil and empty
// collections, and quantities written differently ("1000m", "1"), are equal.
func semanticEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
