package app

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/cmd/skiff/app/printers"
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func newDescribeCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TYPE NAME... | TYPE/NAME...",
		Short: "Show an object in detail, with its events",
		Example: `  skiff describe pod web-7d4b9c-abcde
  skiff describe deploy/web`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.describe(cmd.Context(), args) },
	}
}

func (o *options) describe(ctx context.Context, args []string) error {
	targets, err := parseTargets(args)
	if err != nil {
		return err
	}
	c, err := o.Client()
	if err != nil {
		return err
	}
	first, failed := true, false
	for _, t := range targets {
		ns := namespaceFor(t.res, o.Namespace())
		names := t.names
		if len(names) == 0 {
			list, err := c.List(ctx, t.res, ns, client.ListOptions{})
			if err != nil {
				return err
			}
			for _, obj := range list.Items {
				names = append(names, obj.GetObjectMeta().Name)
			}
		}
		for _, name := range names {
			obj, err := c.Get(ctx, t.res, ns, name)
			if err != nil {
				fmt.Fprintln(o.ErrOut, FormatError(err))
				failed = true
				continue
			}
			if !first {
				fmt.Fprintln(o.Out)
			}
			first = false
			d := &describer{w: &sectionWriter{out: o.Out}, c: c, now: o.now()}
			if err := d.describe(ctx, obj); err != nil {
				return err
			}
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// sectionWriter writes "Key:  value" lines aligned within a block, with
// nesting by indent level, as kubectl describe does.
type sectionWriter struct {
	out   io.Writer
	lines [][3]string // indent, key, value
}

func (w *sectionWriter) field(indent int, key, value string) {
	w.lines = append(w.lines, [3]string{strings.Repeat("  ", indent), key, value})
}

// text writes a line as is (table rows, headings without values).
func (w *sectionWriter) text(indent int, line string) {
	w.lines = append(w.lines, [3]string{strings.Repeat("  ", indent), "", line})
}

// flush aligns values of consecutive lines at the same indent.
func (w *sectionWriter) flush() {
	width := map[string]int{}
	for _, l := range w.lines {
		if l[1] != "" {
			width[l[0]] = max(width[l[0]], len(l[1]))
		}
	}
	for _, l := range w.lines {
		if l[1] == "" {
			fmt.Fprintf(w.out, "%s%s\n", l[0], l[2])
			continue
		}
		if l[2] == "" {
			fmt.Fprintf(w.out, "%s%s:\n", l[0], l[1])
			continue
		}
		// Continuation lines of a multi-line value line up under it.
		value := strings.ReplaceAll(l[2], "\n", "\n"+l[0]+strings.Repeat(" ", width[l[0]]+3))
		fmt.Fprintf(w.out, "%s%-*s  %s\n", l[0], width[l[0]]+1, l[1]+":", value)
	}
	w.lines = nil
}

type describer struct {
	w   *sectionWriter
	c   *client.Client
	now time.Time
}

func (d *describer) describe(ctx context.Context, obj api.Object) error {
	d.metadata(obj)
	switch v := obj.(type) {
	case *api.Pod:
		d.pod(v)
	case *api.Deployment:
		if err := d.deployment(ctx, v); err != nil {
			return err
		}
	case *api.Service:
		if err := d.service(ctx, v); err != nil {
			return err
		}
	case *api.Node:
		d.node(v)
	}
	d.w.flush()
	return d.events(ctx, obj)
}

func (d *describer) metadata(obj api.Object) {
	m := obj.GetObjectMeta()
	d.w.field(0, "Name", m.Name)
	if m.Namespace != "" {
		d.w.field(0, "Namespace", m.Namespace)
	}
	d.w.field(0, "Labels", multiline(m.Labels))
	annotations := map[string]string{}
	for k, v := range m.Annotations {
		if k != LastAppliedAnnotation { // long and repeats the spec
			annotations[k] = v
		}
	}
	d.w.field(0, "Annotations", multiline(annotations))
	d.w.field(0, "CreationTimestamp", m.CreationTimestamp.Format(time.RFC1123Z))
	if m.DeletionTimestamp != nil {
		d.w.field(0, "DeletionTimestamp", m.DeletionTimestamp.Format(time.RFC1123Z))
	}
	if ref := m.ControllerRef(); ref != nil {
		d.w.field(0, "Controlled By", ref.Kind+"/"+ref.Name)
	}
}

// multiline is "k=v" pairs one per line (the writer aligns them under the
// value column, kubectl's layout), or <none>.
func multiline(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		pairs = append(pairs, k+"="+m[k])
	}
	return strings.Join(pairs, "\n")
}

// events lists the events whose involvedObject is obj, oldest first.
func (d *describer) events(ctx context.Context, obj api.Object) error {
	m := obj.GetObjectMeta()
	res, _ := api.ResourceForKind("Event")
	selector := fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s", obj.GetTypeMeta().Kind, m.Name)
	if m.Namespace != "" {
		selector += ",involvedObject.namespace=" + m.Namespace
	}
	list, err := d.c.List(ctx, res, m.Namespace, client.ListOptions{FieldSelector: selector})
	if err != nil {
		return fmt.Errorf("list the events of %s/%s: %w", obj.GetTypeMeta().Kind, m.Name, err)
	}
	if len(list.Items) == 0 {
		fmt.Fprintln(d.w.out, "Events:  <none>")
		return nil
	}
	sort.SliceStable(list.Items, func(i, j int) bool {
		return printers.EventLastSeen(list.Items[i].(*api.Event)).Before(printers.EventLastSeen(list.Items[j].(*api.Event)))
	})
	fmt.Fprintln(d.w.out, "Events:")
	rows := [][]string{{"Type", "Reason", "Age", "From", "Message"}, {"----", "------", "----", "----", "-------"}}
	for _, item := range list.Items {
		e := item.(*api.Event)
		age := printers.Age(printers.EventLastSeen(e), d.now)
		if e.Count > 1 {
			age = fmt.Sprintf("%s (x%d over %s)", age, e.Count, printers.Age(e.FirstTimestamp, d.now))
		}
		rows = append(rows, []string{e.Type, e.Reason, age, e.Source.Component, e.Message})
	}
	writeAligned(d.w.out, "  ", rows)
	return nil
}

// writeAligned writes rows as columns two spaces apart.
func writeAligned(out io.Writer, indent string, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, cell := range r {
			if i == len(r)-1 {
				b.WriteString(cell)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}
