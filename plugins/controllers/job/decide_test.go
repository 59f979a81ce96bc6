package job

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func jobSpec(completions *int32, parallelism, backoffLimit int32) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "work"}}
	j.Spec.Completions = completions
	j.Spec.Parallelism = api.Int32Ptr(parallelism)
	j.Spec.BackoffLimit = api.Int32Ptr(backoffLimit)
	j.Spec.Template.Spec.RestartPolicy = "Never"
	j.Status.StartTime = api.Ptr(now.Add(-time.Minute))
	return j
}

// pods builds pods by phase: "R" running, "S" succeeded, "F" failed (at
// failedAt).
func pods(states string, failedAt time.Time) []*api.Pod {
	var out []*api.Pod
	for i, s := range states {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p%d", i), CreationTimestamp: now.Add(time.Duration(i) * time.Second)}}
		switch s {
		case 'R':
			p.Status.Phase = api.PodRunning
		case 'S':
			p.Status.Phase = api.PodSucceeded
		case 'F':
			p.Status.Phase = api.PodFailed
			p.Status.ContainerStatuses = []api.ContainerStatus{{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1, FinishedAt: failedAt}}}}
		}
		out = append(out, p)
	}
	return out
}

func condition(st api.JobStatus) string {
	for _, c := range st.Conditions {
		if c.Status == api.ConditionTrue {
			return c.Type + "/" + c.Reason
		}
	}
	return ""
}

func TestDecide(t *testing.T) {
	three := api.Int32Ptr(3)
	one := api.Int32Ptr(1)
	tests := []struct {
		name       string
		job        *api.Job
		pods       []*api.Pod
		create     int
		deletes    int
		active     int32
		condition  string
		requeueMax time.Duration
	}{
		{"start: parallelism pods", jobSpec(three, 2, 6), nil, 2, 0, 2, "", 0},
		{"never more than the remaining completions", jobSpec(three, 2, 6), pods("SSR", now), 0, 0, 1, "", 0},
		{"one more after a success", jobSpec(three, 2, 6), pods("SR", now), 1, 0, 2, "", 0},
		{"complete", jobSpec(three, 2, 6), pods("SSS", now), 0, 0, 0, "Complete/", 0},
		{"complete removes leftovers", jobSpec(one, 2, 6), pods("SR", now), 0, 1, 0, "Complete/", 0},
		{"failure backs off 10s", jobSpec(one, 1, 6), pods("F", now.Add(-4*time.Second)), 0, 0, 0, "", 6 * time.Second},
		{"retry after the backoff", jobSpec(one, 1, 6), pods("F", now.Add(-11*time.Second)), 1, 0, 1, "", 0},
		{"second failure backs off 20s", jobSpec(one, 1, 6), pods("FF", now.Add(-15*time.Second)), 0, 0, 0, "", 5 * time.Second},
		{"backoff limit", jobSpec(one, 1, 2), pods("FFF", now), 0, 0, 0, "Failed/BackoffLimitExceeded", 0},
		{"at the limit still retries", jobSpec(one, 1, 2), pods("FF", now.Add(-time.Hour)), 1, 0, 1, "", 0},
		{"parallelism lowered", jobSpec(three, 1, 6), pods("RRR", now), 0, 2, 1, "", 0},
		{"work queue: no new pods after a success", jobSpec(nil, 2, 6), pods("SR", now), 0, 0, 1, "", 0},
		{"work queue: done when the rest finish", jobSpec(nil, 2, 6), pods("SS", now), 0, 0, 0, "Complete/", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Decide(tt.job, tt.pods, now)
			if plan.Create != tt.create || len(plan.Delete) != tt.deletes || plan.Status.Active != tt.active {
				t.Fatalf("create %d delete %d active %d; want %d %d %d", plan.Create, len(plan.Delete), plan.Status.Active, tt.create, tt.deletes, tt.active)
			}
			if got := condition(plan.Status); got != tt.condition {
				t.Fatalf("condition %q, want %q", got, tt.condition)
			}
			if tt.requeueMax > 0 && (plan.RequeueAfter <= 0 || plan.RequeueAfter > tt.requeueMax) {
				t.Fatalf("requeue after %s, want (0, %s]", plan.RequeueAfter, tt.requeueMax)
			}
		})
	}
}

func TestDeadlineFailsAndKillsActivePods(t *testing.T) {
	j := jobSpec(api.Int32Ptr(1), 1, 6)
	j.Spec.ActiveDeadlineSeconds = api.Int64Ptr(30)
	plan := Decide(j, pods("R", now), now)
	if condition(plan.Status) != "Failed/DeadlineExceeded" || len(plan.Delete) != 1 || plan.Event == nil || plan.Event.Reason != ReasonDeadlineExceeded {
		t.Fatalf("past the deadline: %s, %d deletes, event %+v", condition(plan.Status), len(plan.Delete), plan.Event)
	}
	j.Spec.ActiveDeadlineSeconds = api.Int64Ptr(90)
	if plan := Decide(j, pods("R", now), now); condition(plan.Status) != "" || plan.RequeueAfter != 30*time.Second {
		t.Fatalf("before the deadline: %s, requeue %s; want a look at the deadline", condition(plan.Status), plan.RequeueAfter)
	}
}

func TestOnFailureCountsRestarts(t *testing.T) {
	j := jobSpec(api.Int32Ptr(1), 1, 2)
	j.Spec.Template.Spec.RestartPolicy = "OnFailure"
	p := pods("R", now)
	p[0].Status.ContainerStatuses = []api.ContainerStatus{{RestartCount: 1}}
	if plan := Decide(j, p, now); condition(plan.Status) != "" {
		t.Fatalf("1 restart under a limit of 2 failed the job")
	}
	p[0].Status.ContainerStatuses[0].RestartCount = 2
	if plan := Decide(j, p, now); condition(plan.Status) != "Failed/BackoffLimitExceeded" || len(plan.Delete) != 1 {
		t.Fatalf("2 restarts at a limit of 2: %s", condition(plan.Status))
	}
}

func TestSuspendAndResume(t *testing.T) {
	j := jobSpec(api.Int32Ptr(3), 2, 6)
	j.Spec.Suspend = api.BoolPtr(true)
	plan := Decide(j, pods("RR", now), now)
	if len(plan.Delete) != 2 || plan.Create != 0 || condition(plan.Status) != "Suspended/JobSuspended" {
		t.Fatalf("suspend: %d deletes, %d creates, %s", len(plan.Delete), plan.Create, condition(plan.Status))
	}
	j.Status = plan.Status
	j.Spec.Suspend = api.BoolPtr(false)
	later := now.Add(time.Hour)
	plan = Decide(j, nil, later)
	if plan.Create != 2 || !plan.Status.StartTime.Equal(later) || condition(plan.Status) != "" {
		t.Fatalf("resume: %d creates, startTime %v, condition %s", plan.Create, plan.Status.StartTime, condition(plan.Status))
	}
}

func TestBackoffDelay(t *testing.T) {
	for failures, want := range map[int32]time.Duration{0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 6: 320 * time.Second, 7: 6 * time.Minute, 40: 6 * time.Minute} {
		if got := BackoffDelay(failures); got != want {
			t.Fatalf("BackoffDelay(%d) = %s, want %s", failures, got, want)
		}
	}
}
