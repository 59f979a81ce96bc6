package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func newLabelCommand(o *options) *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "label TYPE NAME... KEY=VALUE... KEY-... | TYPE/NAME... KEY=VALUE...",
		Short: "Add, change or remove labels",
		Example: `  skiff label deployment web tier=frontend
  skiff label deploy/web tier=backend --overwrite
  skiff label deploy web tier-`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.label(cmd.Context(), args, overwrite)
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "allow changing a label that already has a value")
	return cmd
}

// labelChange is the parsed KEY=VALUE and KEY- arguments.
type labelChange struct {
	set    map[string]string
	remove []string
}

// splitLabelArgs separates the resource arguments from the label changes,
// which are the trailing arguments containing "=" or ending in "-".
func splitLabelArgs(args []string) ([]string, labelChange, error) {
	change := labelChange{set: map[string]string{}}
	i := len(args)
	for i > 0 && (strings.Contains(args[i-1], "=") || strings.HasSuffix(args[i-1], "-")) {
		i--
	}
	for _, a := range args[i:] {
		if key, value, ok := strings.Cut(a, "="); ok {
			if key == "" {
				return nil, change, fmt.Errorf("label %q: the key must not be empty", a)
			}
			if errs := labelErrors(key, value); errs != "" {
				return nil, change, fmt.Errorf("label %q: %s", a, errs)
			}
			change.set[key] = value
			continue
		}
		change.remove = append(change.remove, strings.TrimSuffix(a, "-"))
	}
	if len(change.set) == 0 && len(change.remove) == 0 {
		return nil, change, fmt.Errorf("give at least one label change: KEY=VALUE to set, KEY- to remove")
	}
	for _, k := range change.remove {
		if _, both := change.set[k]; both {
			return nil, change, fmt.Errorf("label %q is both set and removed", k)
		}
	}
	return args[:i], change, nil
}

// labelErrors checks a label with the selector parser, which enforces the
// Kubernetes key and value syntax.
func labelErrors(key, value string) string {
	if _, err := api.ParseSelector(key + "=" + value); err != nil {
		return err.Error()
	}
	return ""
}

func (o *options) label(ctx context.Context, args []string, overwrite bool) error {
	resArgs, change, err := splitLabelArgs(args)
	if err != nil {
		return err
	}
	targets, err := parseTargets(resArgs)
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	failed := false
	for _, t := range targets {
		if len(t.names) == 0 {
			return fmt.Errorf("name the %s to label", t.res.Plural)
		}
		ns := namespaceFor(t.res, o.Namespace())
		for _, name := range t.names {
			msg, err := labelOne(ctx, c, t.res, ns, name, change, overwrite)
			if err != nil {
				fmt.Fprintln(o.ErrOut, FormatError(err))
				failed = true
				continue
			}
			fmt.Fprintf(o.Out, "%s/%s %s\n", t.res.TypeName(), name, msg)
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// labelOne patches one object's labels; the patch carries the
// resourceVersion read, so a concurrent change is a Conflict, not lost.
func labelOne(ctx context.Context, c *client.Client, res *api.Resource, ns, name string, change labelChange, overwrite bool) (string, error) {
	obj, err := c.Get(ctx, res, ns, name)
	if err != nil {
		return "", err
	}
	meta := obj.GetObjectMeta()
	patch := map[string]any{}
	for k, v := range change.set {
		old, has := meta.Labels[k]
		if has && old == v {
			continue
		}
		if has && !overwrite {
			return "", fmt.Errorf("%s %q: label %q already has a value (%s); pass --overwrite to change it", res.Singular, name, k, old)
		}
		patch[k] = v
	}
	for _, k := range change.remove {
		if _, has := meta.Labels[k]; has {
			patch[k] = nil
		}
	}
	if len(patch) == 0 {
		return "not labeled", nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": patch, "resourceVersion": meta.ResourceVersion}})
	if err != nil {
		return "", err
	}
	if _, err := c.Patch(ctx, res, ns, name, body); err != nil {
		return "", err
	}
	return "labeled", nil
}
