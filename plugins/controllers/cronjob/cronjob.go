// Package cronjob is the CronJob controller: it creates a Job for every
// run of a CronJob's schedule (in its time zone), applies the concurrency
// policy, skips runs missed beyond startingDeadlineSeconds, keeps the
// configured history of finished Jobs and tracks active Jobs in status.
package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
	"github.com/skiff-sh/skiff/plugins/controllers/job"
)

// ScheduledTimestampAnnotation records on each Job the run time it is for.
const ScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// Controller reconciles CronJobs.
type Controller struct {
	client   *client.Client
	cronjobs reconcile.Lister[*api.CronJob]
	jobs     reconcile.Lister[*api.Job]
	recorder reconcile.Recorder
	clock    reconcile.Clock
	log      *slog.Logger
}

var _ reconcile.Reconciler = (*Controller)(nil)

// Reconcile converges the CronJob named by key and requeues it for its
// next run.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	cj, ok := c.cronjobs.GetByKey(key)
	if !ok {
		return reconcile.Result{}, nil
	}
	now := c.clock.Now()
	owned, err := c.ownedJobs(ctx, cj)
	if err != nil {
		return reconcile.Result{}, err
	}
	status := observedStatus(cj, owned)
	res, runErr := c.run(ctx, cj, &status, owned, now)
	cleanErr := c.cleanupHistory(ctx, cj, owned)
	if !reflect.DeepEqual(cj.Status, status) {
		updated := *cj
		updated.Status = status
		if _, err := client.UpdateStatus(ctx, c.client, &updated); err != nil && !api.IsNotFound(err) {
			return reconcile.Result{}, errors.Join(runErr, cleanErr, fmt.Errorf("cronjob %q: update status: %w", key, err))
		}
	}
	if err := errors.Join(runErr, cleanErr); err != nil {
		return reconcile.Result{}, err
	}
	return res, nil
}

// ownedJobs are the Jobs cj controls: those in the cache, plus those its
// status lists that the cache has not caught up with (a Job created by the
// previous reconcile), confirmed with the API server so a deleted one drops.
func (c *Controller) ownedJobs(ctx context.Context, cj *api.CronJob) ([]*api.Job, error) {
	owned := c.jobs.ByIndex(reconcile.IndexController, cj.UID)
	for _, ref := range cj.Status.Active {
		if slices.ContainsFunc(owned, func(j *api.Job) bool { return j.UID == ref.UID }) {
			continue
		}
		j, err := client.Get[*api.Job](ctx, c.client, cj.Namespace, ref.Name)
		switch {
		case api.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("cronjob %q: read active job %q: %w", cj.Key(), ref.Name, err)
		}
		if j.UID == ref.UID && j.IsControlledBy(cj.UID) {
			owned = append(owned, j)
		}
	}
	return owned, nil
}

// observedStatus lists the owned Jobs still running as active and moves
// lastSuccessfulTime to the latest completion.
func observedStatus(cj *api.CronJob, owned []*api.Job) api.CronJobStatus {
	st := api.CronJobStatus{LastScheduleTime: cj.Status.LastScheduleTime, LastSuccessfulTime: cj.Status.LastSuccessfulTime}
	for _, j := range owned {
		cond, done := job.IsFinished(j)
		if !done {
			st.Active = append(st.Active, jobRef(j))
			continue
		}
		if cond == job.ConditionComplete && j.Status.CompletionTime != nil &&
			(st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(*st.LastSuccessfulTime)) {
			st.LastSuccessfulTime = j.Status.CompletionTime
		}
	}
	slices.SortFunc(st.Active, func(a, b api.ObjectReference) int { return strings.Compare(a.Name, b.Name) })
	return st
}

func jobRef(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
}

// run starts the Job of the latest due run, if any and if the concurrency
// policy allows, and says when to look again.
func (c *Controller) run(ctx context.Context, cj *api.CronJob, st *api.CronJobStatus, owned []*api.Job, now time.Time) (reconcile.Result, error) {
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return reconcile.Result{}, nil
	}
	sched, err := ParseSchedule(cj)
	if err != nil {
		// Validation keeps bad schedules out; retrying cannot fix one.
		c.recorder.Event(cj, reconcile.EventWarning, "InvalidSchedule", err.Error())
		return reconcile.Result{}, nil
	}
	missed := UnmetSchedules(cj, sched, now)
	next := reconcile.Result{RequeueAfter: max(missed.Next.Sub(now), time.Millisecond)}
	if missed.Latest.IsZero() {
		return next, nil
	}
	if missed.Count > MaxMissedSchedules {
		c.recorder.Eventf(cj, reconcile.EventWarning, "TooManyMissedTimes",
			"too many missed start times: more than %d; starting only the latest. Set or decrease .spec.startingDeadlineSeconds or check clock skew", MaxMissedSchedules)
	}
	name := JobName(cj, missed.Latest)
	if slices.ContainsFunc(owned, func(j *api.Job) bool { return j.Name == name }) {
		// Started already; the status write that records it was lost.
		st.LastScheduleTime = api.Ptr(missed.Latest)
		return next, nil
	}
	switch cj.Spec.ConcurrencyPolicy {
	case "Forbid":
		if len(st.Active) > 0 {
			// The run waits for the active Job; its finishing brings us back
			// while the run is still within its starting deadline.
			c.recorder.Eventf(cj, reconcile.EventNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case "Replace":
		for _, ref := range st.Active {
			for _, j := range owned {
				if j.UID == ref.UID {
					if err := internal.DeleteObject(ctx, c.client, client.ResourceOf[*api.Job](), j, client.PropagationBackground); err != nil {
						return reconcile.Result{}, fmt.Errorf("cronjob %q: replace active job: %w", cj.Key(), err)
					}
					c.recorder.Eventf(cj, reconcile.EventNormal, "SuccessfulDelete", "Deleted job %s", j.Name)
				}
			}
		}
		st.Active = nil
	}
	created, err := c.createJob(ctx, cj, name, missed.Latest)
	if err != nil {
		return reconcile.Result{}, err
	}
	if created != nil {
		st.Active = append(st.Active, jobRef(created))
	}
	st.LastScheduleTime = api.Ptr(missed.Latest)
	return next, nil
}

// createJob creates the Job of one run. A Job of that name already there
// and ours (a create whose event is not yet seen) counts as created; one
// that is not ours is reported and the run skipped.
func (c *Controller) createJob(ctx context.Context, cj *api.CronJob, name string, scheduled time.Time) (*api.Job, error) {
	t := &cj.Spec.JobTemplate
	annotations := maps.Clone(t.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[ScheduledTimestampAnnotation] = scheduled.UTC().Format(time.RFC3339)
	j := &api.Job{
		TypeMeta: api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: api.ObjectMeta{
			Name:            name,
			Namespace:       cj.Namespace,
			Labels:          maps.Clone(t.Labels),
			Annotations:     annotations,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(cj)},
		},
		Spec: t.Spec, // shallow: only serialised, never modified
	}
	created, err := client.Create(ctx, c.client, j)
	if err == nil {
		c.recorder.Eventf(cj, reconcile.EventNormal, "SuccessfulCreate", "Created job %s", name)
		return created, nil
	}
	if !api.IsAlreadyExists(err) {
		c.recorder.Eventf(cj, reconcile.EventWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("cronjob %q: create job %q: %w", cj.Key(), name, err)
	}
	existing, getErr := client.Get[*api.Job](ctx, c.client, cj.Namespace, name)
	if getErr != nil {
		return nil, fmt.Errorf("cronjob %q: job %q exists but cannot be read: %w", cj.Key(), name, getErr)
	}
	if !existing.IsControlledBy(cj.UID) {
		c.recorder.Eventf(cj, reconcile.EventWarning, "FailedCreate", "Job %s already exists and is not controlled by this CronJob; skipping the run", name)
		return nil, nil
	}
	return existing, nil
}
