package job

import (
	"fmt"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Job condition types and reasons, as in Kubernetes.
const (
	ConditionComplete  = "Complete"
	ConditionFailed    = "Failed"
	ConditionSuspended = "Suspended"

	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	ReasonDeadlineExceeded     = "DeadlineExceeded"
)

// Backoff between retries of failed pods: 10s, 20s, 40s, ... at most 6 minutes.
const (
	DefaultBackoff = 10 * time.Second
	MaxBackoff     = 6 * time.Minute
)

// Plan is what one reconcile of a Job should do.
type Plan struct {
	// Create is the number of pods to create.
	Create int
	// Delete are active pods to remove (surplus, or the job is done).
	Delete []*api.Pod
	// Status is the job's new status, counting the creates and deletes.
	Status api.JobStatus
	// Event, when set, is the warning or normal event a transition records.
	Event *Event
	// RequeueAfter is when time alone changes the decision (backoff over,
	// deadline reached).
	RequeueAfter time.Duration
}

// Event describes an event to record about the job.
type Event struct{ Type, Reason, Message string }

// IsFinished reports whether the job has a true Complete or Failed
// condition, and which.
func IsFinished(job *api.Job) (string, bool) {
	for _, c := range job.Status.Conditions {
		if (c.Type == ConditionComplete || c.Type == ConditionFailed) && c.Status == api.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

// Decide computes the next step for job from the pods it controls. It does
// no I/O. Finished pods are kept while the job exists, so they are counted
// here; counts never go below what status already recorded.
func Decide(job *api.Job, pods []*api.Pod, now time.Time) Plan {
	var active []*api.Pod
	var succeeded, failed, ready int32
	var lastFailure time.Time
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			succeeded++
		case p.Status.Phase == api.PodFailed:
			failed++
			lastFailure = latest(lastFailure, finishedAt(p))
		case p.DeletionTimestamp == nil:
			active = append(active, p)
			if api.IsPodReady(p) {
				ready++
			}
		}
	}
	st := job.Status
	st.Conditions = slices.Clone(job.Status.Conditions)
	st.Succeeded = max(st.Succeeded, succeeded)
	st.Failed = max(st.Failed, failed)
	st.Ready = api.Int32Ptr(ready)
	plan := Plan{}
	finish := func(condType, reason, message string) Plan {
		setCondition(&st.Conditions, condType, api.ConditionTrue, reason, message, now)
		if condType == ConditionComplete {
			st.CompletionTime = api.Ptr(now)
		}
		plan.Delete = active
		st.Active = 0
		plan.Status = st
		evType := "Warning"
		if condType == ConditionComplete {
			evType = "Normal"
			reason = "Completed"
		}
		plan.Event = &Event{Type: evType, Reason: reason, Message: message}
		return plan
	}
	if _, done := IsFinished(job); done {
		// Pods still running after the job finished (deleted above but not
		// yet gone, or started by hand) are removed.
		plan.Delete = active
		st.Active = 0
		plan.Status = st
		return plan
	}

	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	if suspended {
		if setCondition(&st.Conditions, ConditionSuspended, api.ConditionTrue, "JobSuspended", "Job suspended", now) {
			plan.Event = &Event{Type: "Normal", Reason: "Suspended", Message: "Job suspended"}
		}
		plan.Delete = active
		st.Active = 0
		plan.Status = st
		return plan
	}
	if hasCondition(st.Conditions, ConditionSuspended) &&
		setCondition(&st.Conditions, ConditionSuspended, api.ConditionFalse, "JobResumed", "Job resumed", now) {
		// The deadline counts time the job is continuously active.
		st.StartTime = api.Ptr(now)
		plan.Event = &Event{Type: "Normal", Reason: "Resumed", Message: "Job resumed"}
	}
	if st.StartTime == nil {
		st.StartTime = api.Ptr(now)
	}

	if d := job.Spec.ActiveDeadlineSeconds; d != nil {
		deadline := st.StartTime.Add(time.Duration(*d) * time.Second)
		if !now.Before(deadline) {
			return finish(ConditionFailed, ReasonDeadlineExceeded, "Job was active longer than specified deadline")
		}
		plan.RequeueAfter = deadline.Sub(now)
	}
	limit := int32(6)
	if job.Spec.BackoffLimit != nil {
		limit = *job.Spec.BackoffLimit
	}
	if st.Failed > limit || (job.Spec.Template.Spec.RestartPolicy == "OnFailure" && pastBackoffLimitOnFailure(active, limit)) {
		return finish(ConditionFailed, ReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
	}
	if c := job.Spec.Completions; c != nil && st.Succeeded >= *c || c == nil && st.Succeeded > 0 && len(active) == 0 {
		return finish(ConditionComplete, "", "Job completed")
	}

	want := parallelism(job)
	if c := job.Spec.Completions; c != nil {
		want = min(want, *c-st.Succeeded)
	} else if st.Succeeded > 0 {
		// A work queue: once one pod succeeded, no new ones start.
		want = int32(len(active))
	}
	n := int32(len(active))
	switch {
	case n > want:
		plan.Delete = surplus(active, int(n-want))
	case n < want:
		if wait := backoffRemaining(st.Failed, lastFailure, now); wait > 0 {
			plan.RequeueAfter = internal.MinPositive(plan.RequeueAfter, wait)
		} else {
			plan.Create = int(want - n)
		}
	}
	st.Active = n + int32(plan.Create) - int32(len(plan.Delete))
	plan.Status = st
	return plan
}

func parallelism(job *api.Job) int32 {
	if job.Spec.Parallelism == nil {
		return 1
	}
	return *job.Spec.Parallelism
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure the node restarts
// failing containers in place, so their restarts count as failures.
func pastBackoffLimitOnFailure(active []*api.Pod, limit int32) bool {
	var restarts int32
	for _, p := range active {
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			restarts += cs.RestartCount
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// BackoffDelay is the wait before the next pod after failures failures.
func BackoffDelay(failures int32) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := DefaultBackoff
	for i := int32(1); i < failures; i++ {
		d *= 2
		if d >= MaxBackoff {
			return MaxBackoff
		}
	}
	return d
}

func backoffRemaining(failures int32, lastFailure, now time.Time) time.Duration {
	if failures == 0 || lastFailure.IsZero() {
		return 0
	}
	return max(0, lastFailure.Add(BackoffDelay(failures)).Sub(now))
}

// finishedAt is when a failed pod's last container ended (its start time,
// or creation, when the node reported no times).
func finishedAt(p *api.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil {
			t = latest(t, term.FinishedAt)
		}
	}
	if t.IsZero() {
		if c := api.GetPodCondition(&p.Status, api.PodReady); c != nil {
			t = c.LastTransitionTime
		}
	}
	if t.IsZero() && p.Status.StartTime != nil {
		t = *p.Status.StartTime
	}
	if t.IsZero() {
		t = p.CreationTimestamp
	}
	return t
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// surplus picks n active pods to delete: not-ready before ready, then
// newest first, so the pods furthest along keep running.
func surplus(active []*api.Pod, n int) []*api.Pod {
	ranked := slices.Clone(active)
	slices.SortStableFunc(ranked, func(a, b *api.Pod) int {
		if ra, rb := api.IsPodReady(a), api.IsPodReady(b); ra != rb {
			if rb {
				return -1
			}
			return 1
		}
		return b.CreationTimestamp.Compare(a.CreationTimestamp)
	})
	return ranked[:n]
}

func hasCondition(conds []api.JobCondition, typ string) bool {
	return slices.ContainsFunc(conds, func(c api.JobCondition) bool { return c.Type == typ })
}

// setCondition adds or updates a condition; it reports whether its status
// changed. A Suspended=False is only ever an update of an existing one.
func setCondition(conds *[]api.JobCondition, typ, status, reason, message string, now time.Time) bool {
	for i := range *conds {
		c := &(*conds)[i]
		if c.Type != typ {
			continue
		}
		if c.Status == status {
			return false
		}
		*c = api.JobCondition{Type: typ, Status: status, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now}
		return true
	}
	if status != api.ConditionTrue {
		return false
	}
	*conds = append(*conds, api.JobCondition{Type: typ, Status: status, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now})
	return true
}

// FinishTime is when a finished job finished: its completionTime, else
// when its Complete or Failed condition turned true.
func FinishTime(job *api.Job) (time.Time, error) {
	if job.Status.CompletionTime != nil {
		return *job.Status.CompletionTime, nil
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == ConditionComplete || c.Type == ConditionFailed) && c.Status == api.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime, nil
		}
	}
	return time.Time{}, fmt.Errorf("job %q: finished but has no completionTime or condition time", job.Key())
}
