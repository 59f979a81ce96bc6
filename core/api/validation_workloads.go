package api

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateSelectorAndTemplate checks what every workload shares: a
// non-empty valid selector that selects the template's own pods, and a valid
// template. allowedRestart limits the template's restart policy.
func validateSelectorAndTemplate(sel *LabelSelector, tmpl *PodTemplateSpec, p *field.Path, kind string, allowedRestart ...string) field.ErrorList {
	var errs field.ErrorList
	switch {
	case sel == nil:
		errs = append(errs, field.Required(p.Child("selector"), ""))
	case len(sel.MatchLabels)+len(sel.MatchExpressions) == 0:
		errs = append(errs, field.Invalid(p.Child("selector"), sel, "empty selector is invalid for "+kind))
	default:
		errs = append(errs, validateLabels(sel.MatchLabels, p.Child("selector", "matchLabels"))...)
		reqErrs := validateLabelSelectorRequirements(sel, p.Child("selector"))
		errs = append(errs, reqErrs...)
		if len(reqErrs) == 0 {
			if s, err := SelectorFromLabelSelector(sel); err == nil && !s.Matches(tmpl.Labels) {
				errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
			}
		}
	}
	errs = append(errs, validateLabels(tmpl.Labels, p.Child("template", "metadata", "labels"))...)
	errs = append(errs, validateAnnotations(tmpl.Annotations, p.Child("template", "metadata", "annotations"))...)
	errs = append(errs, validateTemplateSpec(&tmpl.Spec, p.Child("template", "spec"), allowedRestart)...)
	return errs
}

// validateTemplateSpec checks a workload's pod template. Only Jobs' pods
// may end, so only they may choose a restart policy other than Always or set
// a deadline.
func validateTemplateSpec(spec *PodSpec, p *field.Path, allowedRestart []string) field.ErrorList {
	errs := validatePodSpec(spec, p)
	// validatePodSpec has already reported values no pod may have.
	if spec.RestartPolicy == "" || slices.Contains(restartPolicies, spec.RestartPolicy) && !slices.Contains(allowedRestart, spec.RestartPolicy) {
		errs = append(errs, oneOf(spec.RestartPolicy, p.Child("restartPolicy"), allowedRestart...)...)
	}
	if spec.ActiveDeadlineSeconds != nil && slices.Contains(allowedRestart, "Always") {
		errs = append(errs, field.Forbidden(p.Child("activeDeadlineSeconds"), "may not be set for pods that run forever; use a Job"))
	}
	return errs
}

// validateLabelSelectorRequirements reports bad matchExpressions with paths.
func validateLabelSelectorRequirements(sel *LabelSelector, p *field.Path) field.ErrorList {
	withoutLabels := &LabelSelector{MatchExpressions: sel.MatchExpressions}
	_, errs := labelSelectorRequirements(withoutLabels, p)
	return errs
}

func validateReplicas(r *int32, p *field.Path) field.ErrorList {
	return nonNegativePtr(r, p)
}

func validateDeployment(d *Deployment) field.ErrorList {
	p := field.NewPath("spec")
	spec := &d.Spec
	errs := validateReplicas(spec.Replicas, p.Child("replicas"))
	errs = append(errs, validateSelectorAndTemplate(spec.Selector, &spec.Template, p, "deployment", "Always")...)
	sp := p.Child("strategy")
	switch spec.Strategy.Type {
	case "": // defaulted to RollingUpdate
	case "Recreate":
		if spec.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case "RollingUpdate":
		if ru := spec.Strategy.RollingUpdate; ru != nil {
			errs = append(errs, validateRollingUpdate(ru.MaxUnavailable, ru.MaxSurge, sp.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, oneOf(spec.Strategy.Type, sp.Child("type"), "Recreate", "RollingUpdate")...)
	}
	errs = append(errs, nonNegative(spec.MinReadySeconds, p.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if pd := spec.ProgressDeadlineSeconds; pd != nil {
		errs = append(errs, nonNegative(*pd, p.Child("progressDeadlineSeconds"))...)
		if *pd <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(p.Child("progressDeadlineSeconds"), int64(*pd), "must be greater than minReadySeconds"))
		}
	}
	return errs
}

// validateRollingUpdate checks maxUnavailable and maxSurge: each a count or a
// percentage, and not both zero (the rollout could never make progress).
func validateRollingUpdate(maxUnavailable, maxSurge *intstr.IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))...)
	errs = append(errs, validateIntOrPercent(maxSurge, p.Child("maxSurge"))...)
	if maxUnavailable != nil && maxUnavailable.Type == intstr.String && percentValue(*maxUnavailable) > 100 {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable.String(), "must not be greater than 100%"))
	}
	if isZero(maxUnavailable) && isZero(maxSurge) {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

func validateIntOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.Int {
		return nonNegative(v.IntVal, p)
	}
	if msgs := validation.IsValidPercent(v.StrVal); len(msgs) > 0 {
		return stringErrors(p, v.StrVal, msgs)
	}
	return nil
}

func percentValue(v intstr.IntOrString) int {
	var n int
	fmt.Sscanf(strings.TrimSuffix(v.StrVal, "%"), "%d", &n)
	return n
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return percentValue(*v) == 0 && len(validation.IsValidPercent(v.StrVal)) == 0
}

func validateReplicaSet(rs *ReplicaSet) field.ErrorList {
	p := field.NewPath("spec")
	errs := validateReplicas(rs.Spec.Replicas, p.Child("replicas"))
	errs = append(errs, nonNegative(rs.Spec.MinReadySeconds, p.Child("minReadySeconds"))...)
	return append(errs, validateSelectorAndTemplate(rs.Spec.Selector, &rs.Spec.Template, p, "replicaset", "Always")...)
}

func validateDaemonSet(ds *DaemonSet) field.ErrorList {
	p := field.NewPath("spec")
	spec := &ds.Spec
	errs := validateSelectorAndTemplate(spec.Selector, &spec.Template, p, "daemonset", "Always")
	sp := p.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "": // defaulted to RollingUpdate
	case "OnDelete":
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'OnDelete'"))
		}
	case "RollingUpdate":
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, validateRollingUpdate(ru.MaxUnavailable, ru.MaxSurge, sp.Child("rollingUpdate"))...)
			// The DaemonSet controller replaces a daemon in place (delete,
			// then create): it never runs two on one node.
			if ms := ru.MaxSurge; ms != nil && !isZero(ms) && len(validateIntOrPercent(ms, sp.Child("rollingUpdate", "maxSurge"))) == 0 {
				errs = append(errs, field.Invalid(sp.Child("rollingUpdate", "maxSurge"), ms.String(),
					"not supported by skiff: a daemon is replaced in place (deleted, then created); omit maxSurge and bound the update with maxUnavailable"))
			}
		}
	default:
		errs = append(errs, oneOf(spec.UpdateStrategy.Type, sp.Child("type"), "OnDelete", "RollingUpdate")...)
	}
	errs = append(errs, nonNegative(spec.MinReadySeconds, p.Child("minReadySeconds"))...)
	return append(errs, nonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
}

func validateStatefulSet(s *StatefulSet) field.ErrorList {
	p := field.NewPath("spec")
	spec := &s.Spec
	errs := validateReplicas(spec.Replicas, p.Child("replicas"))
	errs = append(errs, validateSelectorAndTemplate(spec.Selector, &spec.Template, p, "statefulset", "Always")...)
	if spec.PodManagementPolicy != "" {
		errs = append(errs, oneOf(spec.PodManagementPolicy, p.Child("podManagementPolicy"), "OrderedReady", "Parallel")...)
	}
	if spec.ServiceName != "" {
		errs = append(errs, stringErrors(p.Child("serviceName"), spec.ServiceName, validation.IsDNS1035Label(spec.ServiceName))...)
	}
	sp := p.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "": // defaulted to RollingUpdate
	case "OnDelete":
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case "RollingUpdate":
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, nonNegativePtr(ru.Partition, sp.Child("rollingUpdate", "partition"))...)
			if mu := ru.MaxUnavailable; mu != nil {
				errs = append(errs, validateIntOrPercent(mu, sp.Child("rollingUpdate", "maxUnavailable"))...)
				if isZero(mu) {
					errs = append(errs, field.Invalid(sp.Child("rollingUpdate", "maxUnavailable"), mu.String(), "must be greater than 0"))
				}
			}
		}
	default:
		errs = append(errs, oneOf(spec.UpdateStrategy.Type, sp.Child("type"), "OnDelete", "RollingUpdate")...)
	}
	errs = append(errs, nonNegative(spec.MinReadySeconds, p.Child("minReadySeconds"))...)
	return append(errs, nonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
}

func validateJob(j *Job) field.ErrorList {
	p := field.NewPath("spec")
	errs := validateJobSpec(&j.Spec, p)
	return append(errs, validateSelectorAndTemplate(j.Spec.Selector, &j.Spec.Template, p, "job", "OnFailure", "Never")...)
}

// validateJobSpec checks a Job's or a CronJob job template's counts and
// modes; the template itself is checked by the caller.
func validateJobSpec(spec *JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegativePtr(spec.Parallelism, p.Child("parallelism"))...)
	errs = append(errs, nonNegativePtr(spec.Completions, p.Child("completions"))...)
	errs = append(errs, nonNegativePtr(spec.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, positivePtr(spec.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	errs = append(errs, nonNegativePtr(spec.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	switch spec.CompletionMode {
	case "", "NonIndexed":
	case "Indexed":
		errs = append(errs, field.Invalid(p.Child("completionMode"), spec.CompletionMode,
			"not supported by skiff: only NonIndexed (the default) is; omit completionMode"))
	default:
		errs = append(errs, oneOf(spec.CompletionMode, p.Child("completionMode"), "NonIndexed")...)
	}
	return errs
}

// maxCronJobNameLength leaves room for the 11-character suffix the CronJob
// controller appends to name its Jobs, which must stay DNS labels.
const maxCronJobNameLength = 52

func validateCronJob(c *CronJob) field.ErrorList {
	var errs field.ErrorList
	if len(c.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), c.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	p := field.NewPath("spec")
	spec := &c.Spec
	errs = append(errs, validateCronSchedule(spec.Schedule, p.Child("schedule"))...)
	if tz := spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "Local" {
			errs = append(errs, field.Invalid(p.Child("timeZone"), *tz, "unknown time zone; use an IANA name such as \"Europe/Paris\" or \"Etc/UTC\""))
		}
	}
	if spec.ConcurrencyPolicy != "" {
		errs = append(errs, oneOf(spec.ConcurrencyPolicy, p.Child("concurrencyPolicy"), "Allow", "Forbid", "Replace")...)
	}
	errs = append(errs, nonNegativePtr(spec.StartingDeadlineSeconds, p.Child("startingDeadlineSeconds"))...)
	errs = append(errs, nonNegativePtr(spec.SuccessfulJobsHistoryLimit, p.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegativePtr(spec.FailedJobsHistoryLimit, p.Child("failedJobsHistoryLimit"))...)
	jp := p.Child("jobTemplate", "spec")
	jt := &spec.JobTemplate
	errs = append(errs, validateJobSpec(&jt.Spec, jp)...)
	errs = append(errs, validateLabels(jt.Labels, p.Child("jobTemplate", "metadata", "labels"))...)
	tmpl := &jt.Spec.Template
	errs = append(errs, validateLabels(tmpl.Labels, jp.Child("template", "metadata", "labels"))...)
	return append(errs, validateTemplateSpec(&tmpl.Spec, jp.Child("template", "spec"), []string{"OnFailure", "Never"})...)
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCronSchedule parses a CronJob schedule: five fields or a descriptor
// such as @hourly. The CronJob controller uses it to compute run times.
func ParseCronSchedule(schedule string) (cron.Schedule, error) {
	if strings.Contains(schedule, "TZ=") {
		return nil, fmt.Errorf("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
	}
	return cronParser.Parse(schedule)
}

func validateCronSchedule(schedule string, p *field.Path) field.ErrorList {
	if schedule == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if _, err := ParseCronSchedule(schedule); err != nil {
		return field.ErrorList{field.Invalid(p, schedule, err.Error())}
	}
	return nil
}
