package api

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// labelSelector adapts an apimachinery labels.Selector, which already
// implements the exact Kubernetes semantics and string syntax, to Selector.
type labelSelector struct{ sel labels.Selector }

func (s labelSelector) Matches(l map[string]string) bool { return s.sel.Matches(labels.Set(l)) }
func (s labelSelector) Empty() bool                      { return s.sel.Empty() }
func (s labelSelector) String() string                   { return s.sel.String() }

// Everything returns a selector that matches every label set.
func Everything() Selector { return labelSelector{labels.Everything()} }

// Nothing returns a selector that matches no label set; it is what a nil
// *LabelSelector means on a workload.
func Nothing() Selector { return labelSelector{labels.Nothing()} }

// ParseSelector parses the label-selector string syntax used by `-l` and the
// labelSelector query parameter: `app=web,tier!=db,env in (a,b),!canary,gpu`.
// An empty string selects everything.
func ParseSelector(s string) (Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("label selector %q: %v", s, err)
	}
	return labelSelector{sel}, nil
}

// SelectorFromSet returns a selector requiring every key=value of set. An
// empty or nil set selects everything.
func SelectorFromSet(set map[string]string) Selector {
	return labelSelector{labels.SelectorFromSet(labels.Set(set))}
}

// SelectorFromLabelSelector converts a workload's structured selector
// (matchLabels AND matchExpressions). As in Kubernetes, a nil selector matches
// nothing and an empty one matches everything.
func SelectorFromLabelSelector(ls *LabelSelector) (Selector, error) {
	if ls == nil {
		return Nothing(), nil
	}
	if len(ls.MatchLabels)+len(ls.MatchExpressions) == 0 {
		return Everything(), nil
	}
	reqs, errs := labelSelectorRequirements(ls, nil)
	if len(errs) > 0 {
		return nil, fmt.Errorf("label selector: %v", errs.ToAggregate())
	}
	return labelSelector{labels.NewSelector().Add(reqs...)}, nil
}

// LabelSelectorString renders a structured selector in the string syntax
// (for Scale.status.selector and CLI output); "" for an invalid selector.
func LabelSelectorString(ls *LabelSelector) string {
	sel, err := SelectorFromLabelSelector(ls)
	if err != nil {
		return ""
	}
	return sel.String()
}

// labelSelectorRequirements builds requirements and reports every invalid
// entry with its field path (nil fldPath is fine for callers without one).
func labelSelectorRequirements(ls *LabelSelector, fldPath *field.Path) ([]labels.Requirement, field.ErrorList) {
	var reqs []labels.Requirement
	var errs field.ErrorList
	keys := make([]string, 0, len(ls.MatchLabels))
	for k := range ls.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r, err := labels.NewRequirement(k, selection.Equals, []string{ls.MatchLabels[k]})
		if err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("matchLabels").Key(k), ls.MatchLabels[k], err.Error()))
			continue
		}
		reqs = append(reqs, *r)
	}
	for i, expr := range ls.MatchExpressions {
		p := fldPath.Child("matchExpressions").Index(i)
		var op selection.Operator
		switch expr.Operator {
		case "In":
			op = selection.In
		case "NotIn":
			op = selection.NotIn
		case "Exists":
			op = selection.Exists
		case "DoesNotExist":
			op = selection.DoesNotExist
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), expr.Operator, []string{"In", "NotIn", "Exists", "DoesNotExist"}))
			continue
		}
		switch {
		case (op == selection.In || op == selection.NotIn) && len(expr.Values) == 0:
			errs = append(errs, field.Required(p.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			continue
		case (op == selection.Exists || op == selection.DoesNotExist) && len(expr.Values) > 0:
			errs = append(errs, field.Forbidden(p.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			continue
		}
		r, err := labels.NewRequirement(expr.Key, op, append([]string(nil), expr.Values...))
		if err != nil {
			errs = append(errs, field.Invalid(p, expr.Key, err.Error()))
			continue
		}
		reqs = append(reqs, *r)
	}
	return reqs, errs
}
