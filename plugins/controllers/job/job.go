// Package job is the Job controller: it runs a Job's pods until enough of
// them succeed (completions, at most parallelism at a time), retries failed
// pods with exponential backoff up to backoffLimit, enforces
// activeDeadlineSeconds, honours suspend, and deletes finished Jobs after
// ttlSecondsAfterFinished.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Controller reconciles Jobs.
type Controller struct {
	client   *client.Client
	jobs     reconcile.Lister[*api.Job]
	pods     reconcile.Lister[*api.Pod]
	recorder reconcile.Recorder
	clock    reconcile.Clock
	log      *slog.Logger
	exp      *internal.Expectations
	queue    *reconcile.Queue
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
	candidates := append(c.pods.ByIndex(reconcile.IndexController, job.UID), c.pods.ByIndex(reconcile.IndexOrphan, job.Namespace)...)
	pods, claimErr := internal.Claim(ctx, c.client, job, sel, candidates)
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
	if !reflect.DeepEqual(job.Status, plan.Status) {
		updated := *job
		updated.Status = plan.Status
		if _, err := client.UpdateStatus(ctx, c.client, &updated); err != nil && !api.IsNotFound(err) {
			return reconcile.Result{}, errors.Join(manageErr, claimErr, fmt.Errorf("job %q: update status: %w", key, err))
		}
	}
	if err := errors.Join(manageErr, claimErr); err != nil {
		return reconcile.Result{}, err
	}
	res := reconcile.Result{RequeueAfter: plan.RequeueAfter}
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
	key := job.Key()
	deleteKeys := make([]string, len(plan.Delete))
	for i, p := range plan.Delete {
		deleteKeys[i] = p.Key()
	}
	c.exp.ExpectCreations(key, plan.Create)
	c.exp.ExpectDeletions(key, deleteKeys)
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range plan.Create {
		wg.Go(func() {
			if err := c.createPod(ctx, job); err != nil {
				c.exp.CreationObserved(key)
				fail(err)
			}
		})
	}
	for _, pod := range plan.Delete {
		wg.Go(func() {
			if err := c.deletePod(ctx, job, pod); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) createPod(ctx context.Context, job *api.Job) error {
	t := &job.Spec.Template
	pod := &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{
			Name:            internal.GenerateName(job.Name),
			Namespace:       job.Namespace,
			Labels:          maps.Clone(t.Labels),
			Annotations:     maps.Clone(t.Annotations),
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(job)},
		},
		Spec: t.Spec,
	}
	created, err := client.Create(ctx, c.client, pod)
	if err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(job, reconcile.EventWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("job %q: create pod: %w", job.Key(), err)
	}
	c.recorder.Eventf(job, reconcile.EventNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, job *api.Job, pod *api.Pod) error {
	uid := pod.UID
	err := client.Delete[*api.Pod](ctx, c.client, pod.Namespace, pod.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
	if err == nil {
		c.recorder.Eventf(job, reconcile.EventNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
		return nil
	}
	c.exp.DeletionObserved(job.Key(), pod.Key())
	if api.IsNotFound(err) {
		return nil
	}
	if ctx.Err() == nil {
		c.recorder.Eventf(job, reconcile.EventWarning, "FailedDelete", "Error deleting pod %s: %v", pod.Name, err)
	}
	return fmt.Errorf("job %q: delete pod %q: %w", job.Key(), pod.Name, err)
}
