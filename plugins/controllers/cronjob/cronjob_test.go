package cronjob

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/test/scenario"
)

type cronEnv struct {
	t     *testing.T
	cli   *client.Client
	clock *reconcile.FakeClock
}

// eventually polls cond, moving the fake clock 10ms per poll so retries
// queued with backoff still happen.
func (e *cronEnv) eventually(cond func() error) {
	e.t.Helper()
	scenario.Eventually(e.t, 15*time.Second, func() error {
		e.clock.Step(10 * time.Millisecond)
		return cond()
	})
}

// jobs lists the names of the jobs not being deleted.
func (e *cronEnv) jobs() []string {
	e.t.Helper()
	list, err := client.List[*api.Job](context.Background(), e.cli, "default", client.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			names = append(names, j.Name)
		}
	}
	slices.Sort(names)
	return names
}

func (e *cronEnv) waitJobs(want ...string) {
	e.t.Helper()
	slices.Sort(want)
	e.eventually(func() error {
		if got := e.jobs(); !slices.Equal(got, want) {
			return fmt.Errorf("jobs %v, want %v", got, want)
		}
		return nil
	})
}

// update changes the CronJob "tick", retrying conflicts with the
// controller's status writes.
func (e *cronEnv) update(mutate func(*api.CronJob)) {
	e.t.Helper()
	e.eventually(func() error {
		cj, err := client.Get[*api.CronJob](context.Background(), e.cli, "default", "tick")
		if err != nil {
			return err
		}
		mutate(cj)
		_, err = client.Update(context.Background(), e.cli, cj)
		return err
	})
}

func (e *cronEnv) complete(name string) {
	e.t.Helper()
	j, err := client.Get[*api.Job](context.Background(), e.cli, "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	j.Status.StartTime, j.Status.CompletionTime = api.Ptr(now), api.Ptr(now)
	j.Status.Succeeded = 1
	j.Status.Conditions = []api.JobCondition{{Type: "Complete", Status: api.ConditionTrue, LastTransitionTime: now}}
	if _, err := client.UpdateStatus(context.Background(), e.cli, j); err != nil {
		e.t.Fatal(err)
	}
}

func TestCronJobRunsOnScheduleWithConcurrencyPolicies(t *testing.T) {
	srv := etcd.NewServer(t)
	e := &cronEnv{t: t, cli: srv.Client, clock: reconcile.NewFakeClock(time.Now())}
	scenario.RunControllers(t, srv.Client, e.clock, scenario.Controller{Name: Name, Factory: New})
	ctx := context.Background()
	cj := &api.CronJob{
		TypeMeta:   api.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "tick"},
		Spec: api.CronJobSpec{
			Schedule: "* * * * *", TimeZone: api.Ptr("UTC"), ConcurrencyPolicy: "Forbid",
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{
				RestartPolicy: "Never", Containers: []api.Container{{Name: "tick", Image: "busybox"}}}}}},
		},
	}
	created, err := client.Create(ctx, e.cli, cj)
	if err != nil {
		t.Fatal(err)
	}
	name := func(run time.Time) string { return JobName(cj, run) }
	first := created.CreationTimestamp.Truncate(time.Minute).Add(time.Minute)

	// Nothing before the first minute boundary, one job at it.
	time.Sleep(200 * time.Millisecond)
	if got := e.jobs(); len(got) != 0 {
		t.Fatalf("jobs %v before the first scheduled time", got)
	}
	e.clock.SetTime(first.Add(time.Second))
	e.waitJobs(name(first))
	e.eventually(func() error {
		got, err := client.Get[*api.CronJob](ctx, e.cli, "default", "tick")
		if err != nil {
			return err
		}
		if len(got.Status.Active) != 1 || got.Status.Active[0].Name != name(first) || got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Equal(first) {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})

	// Forbid: the next run waits while the first job is active...
	second := first.Add(time.Minute)
	e.clock.SetTime(second.Add(time.Second))
	time.Sleep(300 * time.Millisecond)
	if got := e.jobs(); len(got) != 1 {
		t.Fatalf("Forbid started %v while a job was active", got)
	}
	// ...and starts once it finishes.
	e.complete(name(first))
	e.waitJobs(name(first), name(second))
	e.eventually(func() error {
		got, err := client.Get[*api.CronJob](ctx, e.cli, "default", "tick")
		if err != nil {
			return err
		}
		if got.Status.LastSuccessfulTime == nil || len(got.Status.Active) != 1 || got.Status.Active[0].Name != name(second) {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})

	// Replace: the active job is deleted and the new run starts.
	e.update(func(cj *api.CronJob) { cj.Spec.ConcurrencyPolicy = "Replace" })
	third := second.Add(time.Minute)
	e.clock.SetTime(third.Add(time.Second))
	e.waitJobs(name(first), name(third))

	// Suspended: runs are not started; resumed: the latest due run starts.
	e.update(func(cj *api.CronJob) { cj.Spec.Suspend = api.BoolPtr(true) })
	e.complete(name(third))
	// A status write guarded by a resourceVersion newer than the suspend
	// proves the controller's cache has the suspended spec.
	e.eventually(func() error {
		got, err := client.Get[*api.CronJob](ctx, e.cli, "default", "tick")
		if err != nil || len(got.Status.Active) != 0 {
			return fmt.Errorf("active %v (%v)", got.Status.Active, err)
		}
		return nil
	})
	fourth := third.Add(time.Minute)
	e.clock.SetTime(fourth.Add(time.Second))
	time.Sleep(300 * time.Millisecond)
	if jobs := e.jobs(); len(jobs) != 2 {
		t.Fatalf("a suspended CronJob started a job: %v", jobs)
	}
	e.update(func(cj *api.CronJob) { cj.Spec.Suspend = api.BoolPtr(false) })
	e.waitJobs(name(first), name(third), name(fourth))
}
