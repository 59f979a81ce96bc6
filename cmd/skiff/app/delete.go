package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

type deleteOptions struct {
	*options
	files          []string
	cascade        string
	gracePeriod    int
	now            bool
	labelSelector  string
	all            bool
	ignoreNotFound bool
}

func newDeleteCommand(o *options) *cobra.Command {
	d := &deleteOptions{options: o}
	cmd := &cobra.Command{
		Use:   "delete TYPE NAME... | TYPE/NAME... | -f FILE | TYPE (-l SELECTOR | --all)",
		Short: "Delete objects by name, by manifest, by label or all of a type",
		Example: `  skiff delete deployment web
  skiff delete -f web.yaml
  skiff delete pods -l app=web
  skiff delete deploy web --cascade=orphan`,
		RunE: func(cmd *cobra.Command, args []string) error { return d.run(cmd.Context(), args) },
	}
	f := cmd.Flags()
	f.StringSliceVarP(&d.files, "filename", "f", nil, "delete the objects in these manifests")
	f.StringVar(&d.cascade, "cascade", "background", "what happens to dependents: background, foreground or orphan")
	f.IntVar(&d.gracePeriod, "grace-period", -1, "seconds a pod gets to stop (-1 = the pod's own setting)")
	f.BoolVar(&d.now, "now", false, "stop pods at once (grace period 1)")
	f.StringVarP(&d.labelSelector, "selector", "l", "", "delete the objects matching this label selector")
	f.BoolVar(&d.all, "all", false, "delete every object of the type in the namespace")
	f.BoolVar(&d.ignoreNotFound, "ignore-not-found", false, "a missing object is not an error")
	return cmd
}

func (d *deleteOptions) requestOptions() (client.DeleteOptions, error) {
	var opts client.DeleteOptions
	switch strings.ToLower(d.cascade) {
	case "background", "true":
		opts.PropagationPolicy = client.PropagationBackground
	case "foreground":
		opts.PropagationPolicy = client.PropagationForeground
	case "orphan", "false":
		opts.PropagationPolicy = client.PropagationOrphan
	default:
		return opts, fmt.Errorf("--cascade=%s: must be background, foreground or orphan", d.cascade)
	}
	switch {
	case d.now && d.gracePeriod >= 0:
		return opts, fmt.Errorf("--now and --grace-period cannot be used together")
	case d.now:
		opts.GracePeriodSeconds = api.Int64Ptr(1)
	case d.gracePeriod >= 0:
		opts.GracePeriodSeconds = api.Int64Ptr(int64(d.gracePeriod))
	}
	return opts, nil
}

func (d *deleteOptions) run(ctx context.Context, args []string) error {
	opts, err := d.requestOptions()
	if err != nil {
		return err
	}
	var objects []namedObject
	switch {
	case len(d.files) > 0:
		if len(args) > 0 {
			return fmt.Errorf("give either -f or resource arguments, not both")
		}
		manifests, err := d.readManifests(d.files)
		if err != nil {
			return err
		}
		for _, m := range manifests {
			meta := m.obj.GetObjectMeta()
			objects = append(objects, namedObject{m.res, meta.Namespace, meta.Name})
		}
	default:
		if objects, err = d.resolve(ctx, args); err != nil {
			return err
		}
	}
	c, err := d.Client()
	if err != nil {
		return err
	}
	failed := false
	for _, obj := range objects {
		err := c.Delete(ctx, obj.res, obj.namespace, obj.name, opts)
		switch {
		case err == nil:
			fmt.Fprintf(d.Out, "%s %q deleted\n", obj.res.TypeName(), obj.name)
		case api.IsNotFound(err) && d.ignoreNotFound:
		default:
			fmt.Fprintln(d.ErrOut, FormatError(err))
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

type namedObject struct {
	res       *api.Resource
	namespace string
	name      string
}

// resolve turns resource arguments (and -l/--all) into the objects to delete.
func (d *deleteOptions) resolve(ctx context.Context, args []string) ([]namedObject, error) {
	targets, err := parseTargets(args)
	if err != nil {
		return nil, err
	}
	var out []namedObject
	for _, t := range targets {
		ns := namespaceFor(t.res, d.Namespace())
		if len(t.names) > 0 {
			if d.all || d.labelSelector != "" {
				return nil, fmt.Errorf("give names or --all/-l, not both")
			}
			for _, n := range t.names {
				out = append(out, namedObject{t.res, ns, n})
			}
			continue
		}
		if !d.all && d.labelSelector == "" {
			return nil, fmt.Errorf("name the %s to delete, or select them with -l or --all", t.res.Plural)
		}
		c, err := d.Client()
		if err != nil {
			return nil, err
		}
		list, err := c.List(ctx, t.res, ns, client.ListOptions{LabelSelector: d.labelSelector})
		if err != nil {
			return nil, err
		}
		for _, obj := range list.Items {
			out = append(out, namedObject{t.res, ns, obj.GetObjectMeta().Name})
		}
	}
	if len(out) == 0 {
		fmt.Fprintln(d.ErrOut, "No resources found")
	}
	return out, nil
}
