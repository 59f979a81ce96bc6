// Package job is the Job controller: it runs a Job's pods until enough of
// them succeed (completions, at most parallelism at a time), retries failed
// pods with exponential backoff up to backoffLimit, enforces
// activeDeadlineSeconds, honours suspend, and deletes finished Jobs after
// ttlSecondsAfterFinished.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles Jobs.
type Controller struct {
	client     *client.Client
	jobs       reconcile.Lister[*api.Job]
	recorder   reconcile.Recorder
	clock      reconcile.Clock
	log        *slog.Logger
	exp        *internal.Expectations
	owned      *internal.OwnedPods[*api.Job]
	podControl *internal.PodControl
}

var _ reconcile.Reconciler = (*Controller)(nil)

const kind = "Job"

// Reconcile converges the Job named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	job, ok := c.jobs.GetByKey(key)
	if !ok {
		c.exp.Forget(key)
		return reconcile.Result{}, nil
	}
	now := c.clock.Now()
	if _, done := IsFinished(job); done && job.Spec.TTLSecondsAfterFinished != nil {
		if wait, err := c.expire(ctx, job, now); err != nil || wait == 0 {
			return reconcile.Result{}, err
		}
	}
	sel, err := api.SelectorFromLabelSelector(job.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(job, reconcile.EventWarning, "InvalidSelector", "spec.selector: %v", err)
		return reconcile.Result{}, nil
	}
	satisfied := c.exp.Satisfied(key)
	pods, claimErr := c.owned.Claim(ctx, c.client, job, sel)
	if job.DeletionTimestamp != nil {
		return reconcile.Result{}, claimErr
	}
	if !satisfied {
		// Counts are unreliable until our own writes are seen; their
		// events bring the job back, or the expectations time out.
		return reconcile.Result{RequeueAfter: internal.ExpectationsTimeout}, claimErr
	}
	plan := Decide(job, pods, now)
	manageErr := c.apply(ctx, job, plan)
	if plan.Event != nil {
		c.recorder.Event(job, plan.Event.Type, plan.Event.Reason, plan.Event.Message)
	}
	updated := *job // shallow: only Status changes, and it is replaced
	updated.Status = plan.Status
	res, err := internal.FinishReconcile(ctx, c.client, nil, &updated, !reflect.DeepEqual(job.Status, plan.Status), true, plan.RequeueAfter, manageErr, claimErr)
	if err != nil {
		return res, err
	}
	if ttl := job.Spec.TTLSecondsAfterFinished; ttl != nil {
		if _, done := IsFinished(&api.Job{Status: plan.Status}); done {
			finished, err := FinishTime(&api.Job{ObjectMeta: job.ObjectMeta, Status: plan.Status})
			if err != nil {
				return reconcile.Result{}, err
			}
			res.RequeueAfter = max(finished.Add(time.Duration(*ttl)*time.Second).Sub(now), time.Millisecond)
		}
	}
	return res, nil
}

// expire deletes a finished job whose TTL has passed, with its pods
// (background cascade), and otherwise says how long is left (0 = deleted).
func (c *Controller) expire(ctx context.Context, job *api.Job, now time.Time) (time.Duration, error) {
	finished, err := FinishTime(job)
	if err != nil {
		return 0, err
	}
	at := finished.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if now.Before(at) {
		return at.Sub(now), nil
	}
	if job.DeletionTimestamp != nil {
		return 0, nil
	}
	if err := internal.DeleteObject(ctx, c.client, client.ResourceOf[*api.Job](), job, client.PropagationBackground); err != nil {
		return 0, fmt.Errorf("job %q: delete after ttlSecondsAfterFinished: %w", job.Key(), err)
	}
	return 0, nil
}

func (c *Controller) apply(ctx context.Context, job *api.Job, plan Plan) error {
	create := make([]*api.Pod, plan.Create)
	for i := range create {
		create[i] = internal.PodFromTemplate(job, &job.Spec.Template)
	}
	return c.podControl.Apply(ctx, job, create, plan.Delete)
}
