package app

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/cmd/skiff/app/printers"
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

type getOptions struct {
	*options
	output        string
	labelSelector string
	fieldSelector string
	allNamespaces bool
	watch         bool
	showLabels    bool
	noHeaders     bool
}

func newGetCommand(o *options) *cobra.Command {
	g := &getOptions{options: o}
	cmd := &cobra.Command{
		Use:   "get TYPE[,TYPE...] [NAME...] | TYPE/NAME...",
		Short: "List objects or show some by name",
		Example: `  skiff get pods
  skiff get deploy,svc -n demo
  skiff get deployment/web -o yaml
  skiff get pods -A -l app=web -o wide
  skiff get pods -w`,
		RunE: func(cmd *cobra.Command, args []string) error { return g.run(cmd.Context(), args) },
	}
	f := cmd.Flags()
	f.StringVarP(&g.output, "output", "o", "", "output format: wide, yaml, json or name")
	f.StringVarP(&g.labelSelector, "selector", "l", "", "label selector, e.g. app=web,tier!=db")
	f.StringVar(&g.fieldSelector, "field-selector", "", "field selector, e.g. status.phase=Running")
	f.BoolVarP(&g.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	f.BoolVarP(&g.watch, "watch", "w", false, "after listing, print rows as objects change")
	f.BoolVar(&g.showLabels, "show-labels", false, "add a LABELS column")
	f.BoolVar(&g.noHeaders, "no-headers", false, "omit the header row")
	return cmd
}

func (g *getOptions) run(ctx context.Context, args []string) error {
	if err := checkOutput(g.output, true); err != nil {
		return err
	}
	targets, err := parseTargets(args)
	if err != nil {
		return err
	}
	if g.watch && len(targets) != 1 {
		return fmt.Errorf("--watch takes one resource type, got %d", len(targets))
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	namespace := g.Namespace()
	if g.allNamespaces {
		namespace = ""
	}
	var objs []api.Object
	failed := false
	rv := ""
	for _, t := range targets {
		ns := namespaceFor(t.res, namespace)
		if len(t.names) == 0 {
			list, err := c.List(ctx, t.res, ns, client.ListOptions{LabelSelector: g.labelSelector, FieldSelector: g.fieldSelector})
			if err != nil {
				return err
			}
			objs, rv = append(objs, list.Items...), list.ResourceVersion
			continue
		}
		for _, name := range t.names {
			obj, err := c.Get(ctx, t.res, ns, name)
			if err != nil {
				// kubectl reports each missing object and shows the rest.
				fmt.Fprintln(g.ErrOut, FormatError(err))
				failed = true
				continue
			}
			objs = append(objs, obj)
		}
	}
	single := len(targets) == 1 && len(targets[0].names) == 1
	if len(objs) == 0 && !failed && !single && !isStructured(g.output) {
		fmt.Fprintln(g.ErrOut, printers.NoResourcesMessage(namespace, anyNamespaced(targets), g.allNamespaces))
	}
	table := printers.NewTablePrinter(g.Out, g.tableOptions())
	if len(objs) > 0 || isStructured(g.output) {
		if err := g.print(table, objs, !single); err != nil {
			return err
		}
	}
	if g.watch {
		return g.watchChanges(ctx, c, targets[0], namespace, rv, table)
	}
	if failed {
		return errReported
	}
	return nil
}

func (g *getOptions) tableOptions() printers.Options {
	return printers.Options{
		Wide: g.output == "wide", NoHeaders: g.noHeaders, ShowLabels: g.showLabels,
		WithNamespace: g.allNamespaces, Now: g.now(),
	}
}

// print writes objs in the chosen format; asList wraps yaml/json in a List.
func (g *getOptions) print(table *printers.TablePrinter, objs []api.Object, asList bool) error {
	return printObjects(g.Out, g.output, table, objs, asList)
}

func printObjects(out io.Writer, format string, table *printers.TablePrinter, objs []api.Object, asList bool) error {
	switch format {
	case printers.FormatYAML:
		return printers.PrintYAML(out, objs, asList)
	case printers.FormatJSON:
		return printers.PrintJSON(out, objs, asList)
	case printers.FormatName:
		return printers.PrintName(out, objs)
	}
	if err := table.Print(objs...); err != nil {
		return err
	}
	return table.Flush()
}

// watchChanges prints a row (or document) per event until ctx ends. It
// starts at the list's revision ("" after named gets: from now) and, when
// the server ends a watch, resumes from the last revision seen.
func (g *getOptions) watchChanges(ctx context.Context, c *client.Client, t target, namespace, rv string, table *printers.TablePrinter) error {
	ns := namespaceFor(t.res, namespace)
	wanted := map[string]bool{}
	for _, n := range t.names {
		wanted[n] = true
	}
	for {
		w, err := c.Watch(ctx, t.res, ns, client.WatchOptions{ResourceVersion: rv, LabelSelector: g.labelSelector, FieldSelector: g.fieldSelector})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for ev := range w.ResultChan() {
			if ev.Type == client.Error {
				w.Stop()
				return ev.Status
			}
			rv = ev.Object.GetObjectMeta().ResourceVersion
			if ev.Type == client.Bookmark || (len(wanted) > 0 && !wanted[ev.Object.GetObjectMeta().Name]) {
				continue
			}
			if err := g.print(table, []api.Object{ev.Object}, false); err != nil {
				w.Stop()
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := w.Err(); err != nil {
			return err
		}
	}
}

func anyNamespaced(ts []target) bool {
	for _, t := range ts {
		if t.res.Namespaced {
			return true
		}
	}
	return false
}

func isStructured(format string) bool {
	return format == printers.FormatYAML || format == printers.FormatJSON
}

// checkOutput validates -o; tables allows "wide".
func checkOutput(format string, tables bool) error {
	switch format {
	case "", printers.FormatYAML, printers.FormatJSON, printers.FormatName:
		return nil
	case "wide":
		if tables {
			return nil
		}
	}
	return fmt.Errorf("--output %q: unknown format; use yaml, json, name or wide", format)
}
