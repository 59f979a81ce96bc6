package printers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/core/api"
)

var deploymentTable = kindTable{
	columns: cols("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS+", "IMAGES+", "SELECTOR+"),
	row: func(obj api.Object, now time.Time) []string {
		d := obj.(*api.Deployment)
		names, images := containerColumns(&d.Spec.Template.Spec)
		return []string{
			d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, deref(d.Spec.Replicas, 1)),
			itoa(d.Status.UpdatedReplicas), itoa(d.Status.AvailableReplicas), Age(d.CreationTimestamp, now),
			names, images, selectorText(d.Spec.Selector),
		}
	},
}

var replicaSetTable = kindTable{
	columns: cols("NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS+", "IMAGES+", "SELECTOR+"),
	row: func(obj api.Object, now time.Time) []string {
		rs := obj.(*api.ReplicaSet)
		names, images := containerColumns(&rs.Spec.Template.Spec)
		return []string{
			rs.Name, itoa(deref(rs.Spec.Replicas, 1)), itoa(rs.Status.Replicas), itoa(rs.Status.ReadyReplicas),
			Age(rs.CreationTimestamp, now), names, images, selectorText(rs.Spec.Selector),
		}
	},
}

var daemonSetTable = kindTable{
	columns: cols("NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS+", "IMAGES+", "SELECTOR+"),
	row: func(obj api.Object, now time.Time) []string {
		ds := obj.(*api.DaemonSet)
		names, images := containerColumns(&ds.Spec.Template.Spec)
		st := ds.Status
		return []string{
			ds.Name, itoa(st.DesiredNumberScheduled), itoa(st.CurrentNumberScheduled), itoa(st.NumberReady),
			itoa(st.UpdatedNumberScheduled), itoa(st.NumberAvailable), api.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
			Age(ds.CreationTimestamp, now), names, images, selectorText(ds.Spec.Selector),
		}
	},
}

var statefulSetTable = kindTable{
	columns: cols("NAME", "READY", "AGE", "CONTAINERS+", "IMAGES+"),
	row: func(obj api.Object, now time.Time) []string {
		s := obj.(*api.StatefulSet)
		names, images := containerColumns(&s.Spec.Template.Spec)
		return []string{
			s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, deref(s.Spec.Replicas, 1)),
			Age(s.CreationTimestamp, now), names, images,
		}
	},
}

var jobTable = kindTable{
	columns: cols("NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS+", "IMAGES+", "SELECTOR+"),
	row: func(obj api.Object, now time.Time) []string {
		j := obj.(*api.Job)
		names, images := containerColumns(&j.Spec.Template.Spec)
		return []string{
			j.Name, JobStatus(j), jobCompletions(j), jobDuration(j, now), Age(j.CreationTimestamp, now),
			names, images, selectorText(j.Spec.Selector),
		}
	},
}

var cronJobTable = kindTable{
	columns: cols("NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE", "CONTAINERS+", "IMAGES+"),
	row: func(obj api.Object, now time.Time) []string {
		cj := obj.(*api.CronJob)
		names, images := containerColumns(&cj.Spec.JobTemplate.Spec.Template.Spec)
		suspend := "<unset>"
		if cj.Spec.Suspend != nil {
			suspend = boolText(*cj.Spec.Suspend)
		}
		return []string{
			cj.Name, cj.Spec.Schedule, suspend, itoa(len(cj.Status.Active)), agePtr(cj.Status.LastScheduleTime, now),
			Age(cj.CreationTimestamp, now), names, images,
		}
	},
}

// JobStatus is kubectl's one-word job state.
func JobStatus(j *api.Job) string {
	for _, want := range []string{"Failed", "Complete", "Suspended", "FailureTarget", "SuccessCriteriaMet"} {
		for _, c := range j.Status.Conditions {
			if c.Type == want && c.Status == "True" {
				return want
			}
		}
	}
	return "Running"
}

func jobCompletions(j *api.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	if p := deref(j.Spec.Parallelism, 0); p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

func jobDuration(j *api.Job, now time.Time) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now.Sub(*j.Status.StartTime))
	}
	return duration.HumanDuration(j.Status.CompletionTime.Sub(*j.Status.StartTime))
}

// containerColumns is the CONTAINERS and IMAGES cells of a pod template.
func containerColumns(spec *api.PodSpec) (names, images string) {
	n := make([]string, len(spec.Containers))
	im := make([]string, len(spec.Containers))
	for i, c := range spec.Containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

func selectorText(ls *api.LabelSelector) string {
	if ls == nil {
		return "<none>"
	}
	return orNone(api.LabelSelectorString(ls))
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func itoa[T ~int | ~int32](v T) string { return fmt.Sprint(v) }

func boolText(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
