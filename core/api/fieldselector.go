package api

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"
)

// fieldGetters lists, per kind, the fields a field selector may name beyond
// metadata.name and metadata.namespace, and how to read each.
var fieldGetters = map[string]map[string]func(Object) string{
	"Pod": {
		"spec.nodeName":      func(o Object) string { return o.(*Pod).Spec.NodeName },
		"spec.restartPolicy": func(o Object) string { return o.(*Pod).Spec.RestartPolicy },
		"status.phase":       func(o Object) string { return o.(*Pod).Status.Phase },
	},
	"Event": {
		"involvedObject.kind":      func(o Object) string { return o.(*Event).InvolvedObject.Kind },
		"involvedObject.name":      func(o Object) string { return o.(*Event).InvolvedObject.Name },
		"involvedObject.namespace": func(o Object) string { return o.(*Event).InvolvedObject.Namespace },
		"involvedObject.uid":       func(o Object) string { return o.(*Event).InvolvedObject.UID },
		"reason":                   func(o Object) string { return o.(*Event).Reason },
		"type":                     func(o Object) string { return o.(*Event).Type },
	},
	"Node": {
		"spec.unschedulable": func(o Object) string { return strconv.FormatBool(o.(*Node).Spec.Unschedulable) },
	},
}

// SupportedFieldSelectors lists the fields res can be filtered on, sorted.
func SupportedFieldSelectors(res *Resource) []string {
	out := []string{"metadata.name", "metadata.namespace"}
	return append(out, sortedKeys(fieldGetters[res.Kind])...)
}

// ParseFieldSelector parses a field selector (`spec.nodeName=n1,status.phase!=Failed`)
// for objects of res and returns a predicate. Operators are =, == and !=;
// requirements are ANDed; an empty selector matches everything.
func ParseFieldSelector(res *Resource, s string) (func(Object) bool, error) {
	sel, err := fields.ParseSelector(s)
	if err != nil {
		return nil, fmt.Errorf("field selector %q: %v", s, err)
	}
	type requirement struct {
		get   func(Object) string
		value string
		equal bool
	}
	var reqs []requirement
	for _, r := range sel.Requirements() {
		get, ok := fieldGetter(res.Kind, r.Field)
		if !ok {
			return nil, fmt.Errorf("field selector %q: field %q is not supported for %s; supported fields: %s",
				s, r.Field, res.Plural, strings.Join(SupportedFieldSelectors(res), ", "))
		}
		switch r.Operator {
		case selection.Equals, selection.DoubleEquals:
			reqs = append(reqs, requirement{get, r.Value, true})
		case selection.NotEquals:
			reqs = append(reqs, requirement{get, r.Value, false})
		default:
			return nil, fmt.Errorf("field selector %q: operator %q is not supported; use =, == or !=", s, r.Operator)
		}
	}
	return func(obj Object) bool {
		for _, r := range reqs {
			if (r.get(obj) == r.value) != r.equal {
				return false
			}
		}
		return true
	}, nil
}

func fieldGetter(kind, name string) (func(Object) string, bool) {
	switch name {
	case "metadata.name":
		return func(o Object) string { return o.GetObjectMeta().Name }, true
	case "metadata.namespace":
		return func(o Object) string { return o.GetObjectMeta().Namespace }, true
	}
	get, ok := fieldGetters[kind][name]
	return get, ok
}
