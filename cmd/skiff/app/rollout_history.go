package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/deployment"
)

func newRolloutHistoryCommand(o *options) *cobra.Command {
	var revision int64
	cmd := &cobra.Command{
		Use:   "history deployment/NAME [--revision=N]",
		Short: "List a deployment's revisions, or show one revision's pod template",
		Example: `  skiff rollout history deploy/web
  skiff rollout history deploy/web --revision 2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.rolloutHistory(cmd.Context(), args, revision)
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return cmd
}

func newRolloutUndoCommand(o *options) *cobra.Command {
	var toRevision int64
	cmd := &cobra.Command{
		Use:   "undo deployment/NAME [--to-revision=N]",
		Short: "Roll a deployment back to an earlier revision",
		Long: `Roll a deployment back: copy the pod template of an earlier revision (by
default the one before the current) into the deployment. The controller
scales that revision's replica set back up and gives it a new revision.`,
		Example: `  skiff rollout undo deploy/web
  skiff rollout undo deploy/web --to-revision 1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.rolloutUndo(cmd.Context(), args, toRevision)
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to (default: the previous one)")
	return cmd
}

// revisionRS is one revision of a deployment: the ReplicaSet that holds it.
type revisionRS struct {
	revision int64
	rs       *api.ReplicaSet
}

// deploymentHistory lists the ReplicaSets d controls, by revision.
func deploymentHistory(ctx context.Context, c *client.Client, d *api.Deployment) ([]revisionRS, error) {
	list, err := client.List[*api.ReplicaSet](ctx, c, d.Namespace, client.ListOptions{LabelSelector: api.LabelSelectorString(d.Spec.Selector)})
	if err != nil {
		return nil, fmt.Errorf("list the replica sets of deployment %q: %w", d.Name, err)
	}
	var out []revisionRS
	for _, rs := range list.Items {
		if !rs.IsControlledBy(d.UID) {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[deployment.RevisionAnnotation], 10, 64)
		if err != nil {
			continue // not yet given a revision by the controller
		}
		out = append(out, revisionRS{revision: rev, rs: rs})
	}
	slices.SortFunc(out, func(a, b revisionRS) int { return int(a.revision - b.revision) })
	return out, nil
}

func findRevision(h []revisionRS, rev int64) (revisionRS, bool) {
	for _, r := range h {
		if r.revision == rev {
			return r, true
		}
	}
	return revisionRS{}, false
}

func revisionList(h []revisionRS) string {
	if len(h) == 0 {
		return "none yet"
	}
	var s []string
	for _, r := range h {
		s = append(s, strconv.FormatInt(r.revision, 10))
	}
	return strings.Join(s, ", ")
}

func (o *options) getDeployment(ctx context.Context, args []string, verb string) (*api.Resource, *api.Deployment, *client.Client, error) {
	res, name, err := rolloutTarget(args, verb, deploymentsOnly)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := o.Client()
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := client.Get[*api.Deployment](ctx, c, o.Namespace(), name)
	if err != nil {
		return nil, nil, nil, err
	}
	return res, d, c, nil
}

func (o *options) rolloutHistory(ctx context.Context, args []string, revision int64) error {
	res, d, c, err := o.getDeployment(ctx, args, "rollout history")
	if err != nil {
		return err
	}
	history, err := deploymentHistory(ctx, c, d)
	if err != nil {
		return err
	}
	if revision > 0 {
		r, ok := findRevision(history, revision)
		if !ok {
			return fmt.Errorf("deployment %q: revision %d not found; revisions: %s", d.Name, revision, revisionList(history))
		}
		fmt.Fprintf(o.Out, "%s/%s with revision #%d\n", res.TypeName(), d.Name, revision)
		printPodTemplate(o, &r.rs.Spec.Template)
		return nil
	}
	fmt.Fprintf(o.Out, "%s/%s\n", res.TypeName(), d.Name)
	tw := tabwriter.NewWriter(o.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, r := range history {
		fmt.Fprintf(tw, "%d\t%s\n", r.revision, orNone(r.rs.Annotations[deployment.ChangeCauseAnnotation]))
	}
	tw.Flush()
	return nil
}

// printPodTemplate prints a template as `kubectl rollout history
// --revision` does: labels, annotations, containers.
func printPodTemplate(o *options, t *api.PodTemplateSpec) {
	d := &describer{w: &sectionWriter{out: o.Out}, now: o.now()}
	w := d.w
	w.field(0, "Pod Template", "")
	w.field(1, "Labels", multiline(t.Labels))
	if len(t.Annotations) > 0 {
		w.field(1, "Annotations", multiline(t.Annotations))
	}
	w.field(1, "Containers", "")
	d.containers(t.Spec.Containers, nil)
	w.flush()
}

func (o *options) rolloutUndo(ctx context.Context, args []string, toRevision int64) error {
	res, d, c, err := o.getDeployment(ctx, args, "rollout undo")
	if err != nil {
		return err
	}
	if toRevision < 0 {
		return fmt.Errorf("--to-revision: must be >= 0, got %d", toRevision)
	}
	history, err := deploymentHistory(ctx, c, d)
	if err != nil {
		return err
	}
	target, err := undoTarget(d, history, toRevision)
	if err != nil {
		return err
	}
	template := undoTemplate(&target.rs.Spec.Template)
	skipped := false
	_, err = updateObject(ctx, c, res, d.Namespace, d.Name, func(obj api.Object) error {
		cur := obj.(*api.Deployment)
		if cur.UID != d.UID {
			return fmt.Errorf("deployment %q was replaced while rolling back; run the command again", d.Name)
		}
		if reflect.DeepEqual(templateJSON(&cur.Spec.Template), templateJSON(&template)) {
			skipped = true
			return errSkip
		}
		cur.Spec.Template = copyTemplate(template)
		// The revision rolled back to keeps its own change-cause, as in
		// Kubernetes; the current one described the rollout being undone.
		if cause, ok := target.rs.Annotations[deployment.ChangeCauseAnnotation]; ok {
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			cur.Annotations[deployment.ChangeCauseAnnotation] = cause
		} else {
			delete(cur.Annotations, deployment.ChangeCauseAnnotation)
		}
		return nil
	})
	if skipped {
		fmt.Fprintf(o.Out, "%s/%s skipped rollback (current template already matches revision %d)\n", res.TypeName(), d.Name, target.revision)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s/%s rolled back\n", res.TypeName(), d.Name)
	return nil
}

// errSkip ends a read-modify-write without writing.
var errSkip = errors.New("no change")

// undoTarget picks the revision to roll back to: toRevision, or the
// highest below the deployment's current one.
func undoTarget(d *api.Deployment, history []revisionRS, toRevision int64) (revisionRS, error) {
	if toRevision > 0 {
		r, ok := findRevision(history, toRevision)
		if !ok {
			return r, fmt.Errorf("deployment %q: revision %d not found; revisions: %s (see 'skiff rollout history deployment/%s')",
				d.Name, toRevision, revisionList(history), d.Name)
		}
		return r, nil
	}
	current, _ := strconv.ParseInt(d.Annotations[deployment.RevisionAnnotation], 10, 64)
	var prev *revisionRS
	for i := range history {
		if history[i].revision < current || current == 0 {
			prev = &history[i]
		}
	}
	if prev == nil || prev.revision == current {
		return revisionRS{}, fmt.Errorf("deployment %q: no revision before the current one (%d) to roll back to", d.Name, current)
	}
	return *prev, nil
}

// undoTemplate is the ReplicaSet's template as the Deployment had it: the
// controller adds the pod-template-hash label, the Deployment never has it.
func undoTemplate(t *api.PodTemplateSpec) api.PodTemplateSpec {
	out := copyTemplate(*t)
	delete(out.Labels, deployment.PodTemplateHashLabel)
	return out
}

// copyTemplate deep-copies a template through its JSON form.
func copyTemplate(t api.PodTemplateSpec) api.PodTemplateSpec {
	var out api.PodTemplateSpec
	data, _ := json.Marshal(t)
	json.Unmarshal(data, &out)
	return out
}

// templateJSON is the template's JSON value, so templates compare by
// what they would send (nil and empty maps alike).
func templateJSON(t *api.PodTemplateSpec) any {
	data, _ := json.Marshal(t)
	var v any
	json.Unmarshal(data, &v)
	return v
}
