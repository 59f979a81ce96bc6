package cronjob

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
	"github.com/skiff-sh/skiff/plugins/controllers/job"
)

// ExpiredJobs returns the finished Jobs beyond the history limits: the
// oldest successful ones past successfulJobsHistoryLimit and the oldest
// failed ones past failedJobsHistoryLimit (unset limits keep everything).
func ExpiredJobs(cj *api.CronJob, owned []*api.Job) []*api.Job {
	var succeeded, failed []*api.Job
	for _, j := range owned {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch cond, _ := job.IsFinished(j); cond {
		case job.ConditionComplete:
			succeeded = append(succeeded, j)
		case job.ConditionFailed:
			failed = append(failed, j)
		}
	}
	return append(oldestBeyond(succeeded, cj.Spec.SuccessfulJobsHistoryLimit), oldestBeyond(failed, cj.Spec.FailedJobsHistoryLimit)...)
}

func oldestBeyond(jobs []*api.Job, limit *int32) []*api.Job {
	if limit == nil || len(jobs) <= int(*limit) {
		return nil
	}
	slices.SortFunc(jobs, func(a, b *api.Job) int {
		if c := startOf(a).Compare(startOf(b)); c != 0 {
			return c
		}
		return a.CreationTimestamp.Compare(b.CreationTimestamp)
	})
	return jobs[:len(jobs)-int(*limit)]
}

func startOf(j *api.Job) time.Time {
	if j.Status.StartTime != nil {
		return *j.Status.StartTime
	}
	return j.CreationTimestamp
}

// cleanupHistory deletes the expired Jobs with their pods.
func (c *Controller) cleanupHistory(ctx context.Context, cj *api.CronJob, owned []*api.Job) error {
	var errs []error
	for _, j := range ExpiredJobs(cj, owned) {
		if err := internal.DeleteObject(ctx, c.client, client.ResourceOf[*api.Job](), j, client.PropagationBackground); err != nil {
			errs = append(errs, err)
			continue
		}
		c.recorder.Eventf(cj, reconcile.EventNormal, "SuccessfulDelete", "Deleted job %s", j.Name)
	}
	return errors.Join(errs...)
}
