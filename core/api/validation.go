package api

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks an object before it is stored. It returns nil or a
// *Status with reason Invalid (HTTP 422) that lists one cause per bad field,
// in kubectl's shape:
//
//	Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0
//
// The API server sets the default namespace and calls SetDefaults first.
func Validate(obj Object) error {
	return invalidStatus(obj, validateObject(obj))
}

// ValidateUpdate checks newObj as Validate does and also that the update
// changes nothing immutable relative to oldObj (names, selectors, most of a
// pod's spec, ...).
func ValidateUpdate(newObj, oldObj Object) error {
	if reflect.TypeOf(newObj) != reflect.TypeOf(oldObj) {
		return invalidStatus(newObj, field.ErrorList{field.Invalid(field.NewPath("kind"), newObj.GetTypeMeta().Kind,
			fmt.Sprintf("may not change the kind of an object (was %s)", kindName(oldObj)))})
	}
	errs := validateObject(newObj)
	errs = append(errs, validateObjectMetaUpdate(newObj.GetObjectMeta(), oldObj.GetObjectMeta(), field.NewPath("metadata"))...)
	errs = append(errs, validateSpecUpdate(newObj, oldObj)...)
	return invalidStatus(newObj, errs)
}

func validateObject(obj Object) field.ErrorList {
	r, ok := ResourceFor(obj)
	if !ok {
		return field.ErrorList{field.Invalid(field.NewPath("kind"), kindName(obj), "is not a kind the API serves")}
	}
	errs := validateObjectMeta(obj.GetObjectMeta(), r, field.NewPath("metadata"))
	switch o := obj.(type) {
	case *Namespace:
	case *Node:
		errs = append(errs, validateNode(o)...)
	case *Pod:
		errs = append(errs, validatePodSpec(&o.Spec, field.NewPath("spec"))...)
	case *Service:
		errs = append(errs, validateService(o)...)
	case *Endpoints:
		errs = append(errs, validateEndpoints(o)...)
	case *ConfigMap:
		errs = append(errs, validateConfigData(o.Data, o.BinaryData)...)
	case *Secret:
		errs = append(errs, validateSecret(o)...)
	case *Event:
		errs = append(errs, validateEvent(o)...)
	case *Lease:
		errs = append(errs, validateLease(o)...)
	case *Deployment:
		errs = append(errs, validateDeployment(o)...)
	case *ReplicaSet:
		errs = append(errs, validateReplicaSet(o)...)
	case *DaemonSet:
		errs = append(errs, validateDaemonSet(o)...)
	case *StatefulSet:
		errs = append(errs, validateStatefulSet(o)...)
	case *Job:
		errs = append(errs, validateJob(o)...)
	case *CronJob:
		errs = append(errs, validateCronJob(o)...)
	}
	return errs
}

// invalidStatus turns field errors into the API's Invalid status, or nil.
func invalidStatus(obj Object, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	kind, group := kindName(obj), ""
	if r, ok := ResourceFor(obj); ok {
		kind, group = r.Kind, r.Group
	}
	qualified := kind
	if group != "" {
		qualified += "." + group
	}
	name := obj.GetObjectMeta().Name
	s := NewStatus(ReasonInvalid, "%s %q is invalid: %v", qualified, name, errs.ToAggregate())
	s.Details = &StatusDetails{Name: name, Group: group, Kind: kind}
	for _, e := range errs {
		s.Details.Causes = append(s.Details.Causes, StatusCause{Type: string(e.Type), Message: e.ErrorBody(), Field: e.Field})
	}
	return s
}

func kindName(obj Object) string {
	if k := obj.GetTypeMeta().Kind; k != "" {
		return k
	}
	return reflect.TypeOf(obj).Elem().Name()
}

// nameValidators is how each kind's metadata.name is checked; the others are
// DNS-1123 subdomains. Names that become DNS labels (namespaces, services,
// StatefulSet pod hostnames) are stricter.
var nameValidators = map[string]func(string) []string{
	"Namespace":   validation.IsDNS1123Label,
	"Service":     validation.IsDNS1035Label,
	"StatefulSet": validation.IsDNS1123Label,
}

func nameValidator(kind string) func(string) []string {
	if f, ok := nameValidators[kind]; ok {
		return f
	}
	return validation.IsDNS1123Subdomain
}

func validateObjectMeta(m *ObjectMeta, r *Resource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	isName := nameValidator(r.Kind)
	switch {
	case m.Name != "":
		errs = append(errs, stringErrors(p.Child("name"), m.Name, isName(m.Name))...)
	case m.GenerateName != "":
		// A generated name is the prefix plus random characters, so a trailing
		// dash is fine.
		masked := strings.TrimSuffix(m.GenerateName, "-") + "a"
		errs = append(errs, stringErrors(p.Child("generateName"), m.GenerateName, isName(masked))...)
	default:
		errs = append(errs, field.Required(p.Child("name"), "name or generateName is required"))
	}
	switch {
	case r.Namespaced && m.Namespace == "":
		errs = append(errs, field.Required(p.Child("namespace"), ""))
	case r.Namespaced:
		errs = append(errs, stringErrors(p.Child("namespace"), m.Namespace, validation.IsDNS1123Label(m.Namespace))...)
	case m.Namespace != "":
		errs = append(errs, field.Forbidden(p.Child("namespace"), "not allowed on this type"))
	}
	errs = append(errs, validateLabels(m.Labels, p.Child("labels"))...)
	errs = append(errs, validateAnnotations(m.Annotations, p.Child("annotations"))...)
	controllers := 0
	for i, ref := range m.OwnerReferences {
		rp := p.Child("ownerReferences").Index(i)
		for _, f := range []struct{ name, value string }{{"apiVersion", ref.APIVersion}, {"kind", ref.Kind}, {"name", ref.Name}, {"uid", ref.UID}} {
			if f.value == "" {
				errs = append(errs, field.Required(rp.Child(f.name), ""))
			}
		}
		if IsControllerRef(&ref) {
			controllers++
		}
	}
	if controllers > 1 {
		errs = append(errs, field.Invalid(p.Child("ownerReferences"), m.OwnerReferences, "only one reference can have Controller set to true"))
	}
	for i, f := range m.Finalizers {
		errs = append(errs, stringErrors(p.Child("finalizers").Index(i), f, validation.IsQualifiedName(f))...)
	}
	return errs
}

func validateObjectMetaUpdate(newMeta, oldMeta *ObjectMeta, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, immutable(newMeta.Name, oldMeta.Name, p.Child("name"))...)
	errs = append(errs, immutable(newMeta.Namespace, oldMeta.Namespace, p.Child("namespace"))...)
	if oldMeta.UID != "" {
		errs = append(errs, immutable(newMeta.UID, oldMeta.UID, p.Child("uid"))...)
	}
	return errs
}

// totalAnnotationSizeLimit is Kubernetes' cap on all annotations of an object.
const totalAnnotationSizeLimit = 256 * 1024

func validateLabels(labels map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(labels) {
		errs = append(errs, stringErrors(p, k, validation.IsQualifiedName(k))...)
		errs = append(errs, stringErrors(p.Key(k), labels[k], validation.IsValidLabelValue(labels[k]))...)
	}
	return errs
}

func validateAnnotations(annotations map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for _, k := range sortedKeys(annotations) {
		errs = append(errs, stringErrors(p, k, validation.IsQualifiedName(strings.ToLower(k)))...)
		size += len(k) + len(annotations[k])
	}
	if size > totalAnnotationSizeLimit {
		errs = append(errs, field.TooLong(p, "", totalAnnotationSizeLimit))
	}
	return errs
}

// stringErrors wraps apimachinery's []string checks as field errors.
func stringErrors(p *field.Path, value string, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, value, msg))
	}
	return errs
}

func immutable[T any](newVal, oldVal T, p *field.Path) field.ErrorList {
	if semanticEqual(newVal, oldVal) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, newVal, "field is immutable")}
}

func nonNegative[T int32 | int64](v T, p *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(p, int64(v), "must be greater than or equal to 0")}
	}
	return nil
}

func nonNegativePtr[T int32 | int64](v *T, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return nonNegative(*v, p)
}

func positivePtr[T int32 | int64](v *T, p *field.Path) field.ErrorList {
	if v != nil && *v <= 0 {
		return field.ErrorList{field.Invalid(p, int64(*v), "must be greater than 0")}
	}
	return nil
}

// oneOf reports a value outside the allowed set; "" is reported as required.
func oneOf(v string, p *field.Path, allowed ...string) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return field.ErrorList{field.Required(p, "supported values: \""+strings.Join(allowed, "\", \"")+"\"")}
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
