package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
)

func newRolloutCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Manage the rollout of a deployment, daemon set or stateful set",
		Long: `Manage the rollout of a workload: watch it (status), list its revisions
(history), go back to one (undo), hold and release it (pause, resume), or
replace every pod (restart).`,
		Example: `  skiff rollout status deploy/web --timeout 2m
  skiff rollout history deploy/web --revision 2
  skiff rollout undo deploy/web --to-revision 1
  skiff rollout restart deploy/web`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRolloutStatusCommand(o), newRolloutHistoryCommand(o), newRolloutUndoCommand(o),
		newRolloutPauseCommand(o, true), newRolloutPauseCommand(o, false), newRolloutRestartCommand(o))
	return cmd
}

func newRolloutPauseCommand(o *options, pause bool) *cobra.Command {
	verb, short := "resume", "Resume a paused deployment: the controller rolls out template changes again"
	if pause {
		verb, short = "pause", "Pause a deployment: template changes are not rolled out until it is resumed (scaling still applies)"
	}
	return &cobra.Command{
		Use:     verb + " deployment/NAME",
		Short:   short,
		Example: "  skiff rollout " + verb + " deploy/web",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.setPaused(cmd.Context(), args, pause)
		},
	}
}

func newRolloutRestartCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "restart TYPE/NAME",
		Short: "Replace every pod of a deployment, daemon set or stateful set through a rollout",
		Long: `Restart sets the pod template annotation skiff.io/restartedAt to now. The
template changes, so the controller rolls out new pods under the workload's
update strategy.`,
		Example: "  skiff rollout restart deploy/web",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.restart(cmd.Context(), args)
		},
	}
}

func (o *options) setPaused(ctx context.Context, args []string, pause bool) error {
	res, name, err := rolloutTarget(args, "rollout pause", deploymentsOnly)
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	ns := namespaceFor(res, o.Namespace())
	_, err = updateObject(ctx, c, res, ns, name, func(obj api.Object) error {
		d := obj.(*api.Deployment)
		if d.Spec.Paused == pause {
			if pause {
				return fmt.Errorf("%s %q is already paused", res.GroupResource(), name)
			}
			return fmt.Errorf("%s %q is not paused", res.GroupResource(), name)
		}
		d.Spec.Paused = pause
		return nil
	})
	if err != nil {
		return err
	}
	done := "resumed"
	if pause {
		done = "paused"
	}
	fmt.Fprintf(o.Out, "%s/%s %s\n", res.TypeName(), name, done)
	return nil
}

func (o *options) restart(ctx context.Context, args []string) error {
	res, name, err := rolloutTarget(args, "rollout restart", restartable)
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	now := o.now().UTC().Format(time.RFC3339)
	_, err = updateObject(ctx, c, res, namespaceFor(res, o.Namespace()), name, func(obj api.Object) error {
		d, ok := obj.(*api.Deployment)
		if ok && d.Spec.Paused {
			return fmt.Errorf("%s %q is paused; run 'skiff rollout resume %s/%s' first", res.GroupResource(), name, res.Singular, name)
		}
		tmpl, err := podTemplateOf(obj)
		if err != nil {
			return err
		}
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[deployment.RestartedAtAnnotation] = now
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s/%s restarted\n", res.TypeName(), name)
	return nil
}

// The kinds each rollout verb accepts.
var (
	deploymentsOnly = []string{"Deployment"}
	restartable     = []string{"Deployment", "DaemonSet", "StatefulSet"}
	withTemplates   = []string{"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"}
)

// rolloutTarget resolves the one TYPE/NAME argument and checks its kind.
func rolloutTarget(args []string, verb string, kinds []string) (*api.Resource, string, error) {
	res, name, err := oneTarget(args, verb)
	if err != nil {
		return nil, "", err
	}
	if err := checkKind(res, verb, kinds); err != nil {
		return nil, "", err
	}
	return res, name, nil
}

// checkKind says which types verb supports when res is not one of them.
func checkKind(res *api.Resource, verb string, kinds []string) error {
	if slices.Contains(kinds, res.Kind) {
		return nil
	}
	var plurals []string
	for _, k := range kinds {
		if r, ok := api.ResourceForKind(k); ok {
			plurals = append(plurals, r.Plural)
		}
	}
	return fmt.Errorf("%s: %s are not supported; use one of: %s", verb, res.Plural, strings.Join(plurals, ", "))
}

// podTemplateOf returns the pod template inside a workload, for changing
// it in place.
func podTemplateOf(obj api.Object) (*api.PodTemplateSpec, error) {
	switch v := obj.(type) {
	case *api.Deployment:
		return &v.Spec.Template, nil
	case *api.DaemonSet:
		return &v.Spec.Template, nil
	case *api.StatefulSet:
		return &v.Spec.Template, nil
	case *api.ReplicaSet:
		return &v.Spec.Template, nil
	}
	return nil, fmt.Errorf("%s has no pod template", obj.GetTypeMeta().Kind)
}

// updateAttempts bounds the read-modify-write retries on conflicts with
// controllers writing the same object.
const updateAttempts = 5

// updateObject reads the object, applies change and writes it back with
// the resourceVersion read, retrying when someone else wrote in between.
func updateObject(ctx context.Context, c *client.Client, res *api.Resource, ns, name string, change func(api.Object) error) (api.Object, error) {
	for attempt := 1; ; attempt++ {
		obj, err := c.Get(ctx, res, ns, name)
		if err != nil {
			return nil, err
		}
		if err := change(obj); err != nil {
			return nil, err
		}
		updated, err := c.Update(ctx, obj)
		if err == nil || !api.IsConflict(err) || attempt == updateAttempts {
			return updated, err
		}
	}
}
