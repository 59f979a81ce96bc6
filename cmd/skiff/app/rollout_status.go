package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
)

func newRolloutStatusCommand(o *options) *cobra.Command {
	var timeout time.Duration
	var watch bool
	cmd := &cobra.Command{
		Use:   "status TYPE/NAME",
		Short: "Watch a rollout until it finishes",
		Long: `Watch the rollout of a deployment, daemon set or stateful set until it
finishes, printing its progress. Fails when a deployment's rollout exceeds
its progress deadline, or when --timeout passes first.`,
		Example: `  skiff rollout status deploy/web
  skiff rollout status ds/agent --timeout 5m
  skiff rollout status sts/db -w=false`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.rolloutStatus(cmd.Context(), args, watch, timeout)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", true, "watch until the rollout finishes; -w=false prints the status once")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (e.g. 5m; 0 waits forever)")
	return cmd
}

// rolloutState is one look at a rollout: the progress line to print, and
// whether it finished.
type rolloutState struct {
	message string
	done    bool
}

func (o *options) rolloutStatus(ctx context.Context, args []string, watch bool, timeout time.Duration) error {
	res, name, err := rolloutTarget(args, "rollout status", restartable)
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ns := namespaceFor(res, o.Namespace())
	last := ""
	// report prints each new progress line once and says whether to stop.
	report := func(obj api.Object) (bool, error) {
		st, err := rolloutStatusOf(obj)
		if err != nil {
			return true, err
		}
		if st.message != last {
			fmt.Fprint(o.Out, st.message)
			last = st.message
		}
		return st.done || !watch, nil
	}
	for {
		obj, err := c.Get(ctx, res, ns, name)
		if err != nil {
			return waitError(ctx, err, res, name, timeout)
		}
		if stop, err := report(obj); stop || err != nil {
			return err
		}
		if err := watchObject(ctx, c, res, obj, report); err != nil {
			return waitError(ctx, err, res, name, timeout)
		}
	}
}

// watchObject feeds each new version of obj to report until report says
// stop (nil) or the watch ends (nil too: the caller reads again and
// resumes). Errors are the watch's own.
func watchObject(ctx context.Context, c *client.Client, res *api.Resource, obj api.Object, report func(api.Object) (bool, error)) error {
	meta := obj.GetObjectMeta()
	w, err := c.Watch(ctx, res, meta.Namespace, client.WatchOptions{
		ResourceVersion: meta.ResourceVersion, FieldSelector: "metadata.name=" + meta.Name,
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case client.Deleted:
			return fmt.Errorf("%s %q was deleted while waiting for its rollout", res.GroupResource(), meta.Name)
		case client.Added, client.Modified:
			if stop, err := report(ev.Object); stop || err != nil {
				return stopWatching{err}
			}
		}
	}
	return ctx.Err()
}

// stopWatching carries report's verdict out of the watch loop.
type stopWatching struct{ err error }

func (s stopWatching) Error() string {
	if s.err == nil {
		return "done"
	}
	return s.err.Error()
}

// waitError turns the end of a wait into the command's result: done is
// nil, a deadline becomes the timeout message.
func waitError(ctx context.Context, err error, res *api.Resource, name string, timeout time.Duration) error {
	var stop stopWatching
	if errors.As(err, &stop) {
		return stop.err
	}
	if ctx.Err() != nil && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s waiting for the rollout of %s %q to finish", timeout, res.GroupResource(), name)
	}
	return err
}

// rolloutStatusOf reads a workload's rollout progress the way kubectl does;
// an error means the rollout failed (or cannot be watched).
func rolloutStatusOf(obj api.Object) (rolloutState, error) {
	switch v := obj.(type) {
	case *api.Deployment:
		return deploymentRolloutStatus(v)
	case *api.DaemonSet:
		return daemonSetRolloutStatus(v)
	case *api.StatefulSet:
		return statefulSetRolloutStatus(v)
	}
	return rolloutState{}, fmt.Errorf("rollout status: %s is not a deployment, daemon set or stateful set", obj.GetTypeMeta().Kind)
}

func deploymentRolloutStatus(d *api.Deployment) (rolloutState, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return rolloutState{message: "Waiting for deployment spec update to be observed...\n"}, nil
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == deployment.ConditionProgressing && cond.Reason == deployment.ReasonProgressDeadlineExceeded {
			return rolloutState{}, fmt.Errorf("deployment %q exceeded its progress deadline: %s", d.Name, cond.Message)
		}
	}
	st := d.Status
	wait := func(format string, args ...any) (rolloutState, error) {
		return rolloutState{message: fmt.Sprintf("Waiting for deployment %q rollout to finish: ", d.Name) + fmt.Sprintf(format, args...) + "\n"}, nil
	}
	switch {
	case d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas:
		return wait("%d out of %d new replicas have been updated...", st.UpdatedReplicas, *d.Spec.Replicas)
	case st.Replicas > st.UpdatedReplicas:
		return wait("%d old replicas are pending termination...", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return wait("%d of %d updated replicas are available...", st.AvailableReplicas, st.UpdatedReplicas)
	}
	return rolloutState{message: fmt.Sprintf("deployment %q successfully rolled out\n", d.Name), done: true}, nil
}

func daemonSetRolloutStatus(ds *api.DaemonSet) (rolloutState, error) {
	if t := ds.Spec.UpdateStrategy.Type; t != "" && t != "RollingUpdate" {
		return rolloutState{}, fmt.Errorf("daemon set %q: rollout status is only available for the RollingUpdate strategy, not %s", ds.Name, t)
	}
	if ds.Generation > ds.Status.ObservedGeneration {
		return rolloutState{message: "Waiting for daemon set spec update to be observed...\n"}, nil
	}
	st := ds.Status
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return rolloutState{message: fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n",
			ds.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled)}, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return rolloutState{message: fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n",
			ds.Name, st.NumberAvailable, st.DesiredNumberScheduled)}, nil
	}
	return rolloutState{message: fmt.Sprintf("daemon set %q successfully rolled out\n", ds.Name), done: true}, nil
}

func statefulSetRolloutStatus(s *api.StatefulSet) (rolloutState, error) {
	if t := s.Spec.UpdateStrategy.Type; t != "" && t != "RollingUpdate" {
		return rolloutState{}, fmt.Errorf("statefulset %q: rollout status is only available for the RollingUpdate strategy, not %s", s.Name, t)
	}
	st := s.Status
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		return rolloutState{message: "Waiting for statefulset spec update to be observed...\n"}, nil
	}
	replicas := int32(1)
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	if st.ReadyReplicas < replicas {
		return rolloutState{message: fmt.Sprintf("Waiting for %d pods to be ready...\n", replicas-st.ReadyReplicas)}, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		if want := replicas - *ru.Partition; st.UpdatedReplicas < want {
			return rolloutState{message: fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n",
				st.UpdatedReplicas, want)}, nil
		}
		return rolloutState{message: fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", st.UpdatedReplicas), done: true}, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return rolloutState{message: fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...\n",
			st.UpdatedReplicas, st.UpdateRevision)}, nil
	}
	return rolloutState{message: fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...\n", st.CurrentReplicas, st.CurrentRevision), done: true}, nil
}
