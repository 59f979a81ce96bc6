// Package printers renders API objects for the CLI: kubectl-shaped tables
// and the yaml, json and name output formats.
package printers

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/core/api"
)

// Options shape a table.
type Options struct {
	Wide          bool // the extra "-o wide" columns
	NoHeaders     bool
	ShowLabels    bool // a trailing LABELS column
	WithNamespace bool // a leading NAMESPACE column ("-A")
	// Now is the clock ages are computed against; tests fix it.
	Now time.Time
}

// column is one table column; wide columns show only with Options.Wide.
type column struct {
	name string
	wide bool
}

// kindTable knows a kind's columns and how to fill one row (every column,
// wide ones included, in order).
type kindTable struct {
	columns []column
	row     func(obj api.Object, now time.Time) []string
}

// TablePrinter writes objects as aligned tables, one table per kind, with a
// blank line between kinds as kubectl does.
type TablePrinter struct {
	out      *columnWriter
	opts     Options
	lastKind string
}

// NewTablePrinter writes tables to out. Widths are remembered across
// Flush calls so watched rows stay aligned with the header.
func NewTablePrinter(out io.Writer, opts Options) *TablePrinter {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	return &TablePrinter{out: &columnWriter{out: out}, opts: opts}
}

// Print writes objects, each as a row of its kind's table.
func (p *TablePrinter) Print(objs ...api.Object) error {
	for _, obj := range objs {
		kind := obj.GetTypeMeta().Kind
		table := tableFor(kind)
		if kind != p.lastKind {
			if p.lastKind != "" {
				if err := p.Flush(); err != nil {
					return err
				}
				p.out.blankLine()
				p.out.widths = nil // the next kind has its own columns
			}
			p.lastKind = kind
			if !p.opts.NoHeaders {
				p.writeRow(table.headers(p.opts))
			}
		}
		p.writeRow(table.cells(obj, p.opts))
	}
	return nil
}

// Flush writes buffered rows; a watch calls it after each event.
func (p *TablePrinter) Flush() error { return p.out.Flush() }

func (p *TablePrinter) writeRow(cells []string) { p.out.rows = append(p.out.rows, cells) }

func (t kindTable) headers(opts Options) []string {
	var out []string
	if opts.WithNamespace {
		out = append(out, "NAMESPACE")
	}
	for _, c := range t.columns {
		if !c.wide || opts.Wide {
			out = append(out, c.name)
		}
	}
	if opts.ShowLabels {
		out = append(out, "LABELS")
	}
	return out
}

func (t kindTable) cells(obj api.Object, opts Options) []string {
	meta := obj.GetObjectMeta()
	var out []string
	if opts.WithNamespace {
		out = append(out, meta.Namespace)
	}
	for i, cell := range t.row(obj, opts.Now) {
		if !t.columns[i].wide || opts.Wide {
			out = append(out, cell)
		}
	}
	if opts.ShowLabels {
		out = append(out, api.FormatLabels(meta.Labels))
	}
	return out
}

// tableFor returns the table of a kind, or NAME AGE for kinds without one.
func tableFor(kind string) kindTable {
	if t, ok := tables[kind]; ok {
		return t
	}
	return kindTable{
		columns: cols("NAME", "AGE"),
		row: func(obj api.Object, now time.Time) []string {
			m := obj.GetObjectMeta()
			return []string{m.Name, Age(m.CreationTimestamp, now)}
		},
	}
}

// cols builds columns; a name ending in "+" is a wide column.
func cols(names ...string) []column {
	out := make([]column, len(names))
	for i, n := range names {
		name, wide := strings.CutSuffix(n, "+")
		out[i] = column{name: name, wide: wide}
	}
	return out
}

// Age is kubectl's short age of t at now ("5s", "3m2s", "4h", "2d"), or
// "<unknown>" for a zero time.
func Age(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// agePtr is Age for optional times, "<none>" when unset.
func agePtr(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "<none>"
	}
	return Age(*t, now)
}

// orNone is s, or "<none>" when empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// NoResourcesMessage is what kubectl prints to stderr for an empty result.
func NoResourcesMessage(namespace string, namespaced, allNamespaces bool) string {
	if !namespaced || allNamespaces {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", namespace)
}

// columnWriter aligns buffered rows in columns three spaces apart. Widths
// only grow and survive flushes, so rows a watch prints later stay under
// their header (kubectl's RememberWidths).
type columnWriter struct {
	out    io.Writer
	rows   [][]string
	widths []int
}

const columnGap = 3

func (w *columnWriter) Flush() error {
	for _, row := range w.rows {
		for i, cell := range row {
			if i >= len(w.widths) {
				w.widths = append(w.widths, 0)
			}
			w.widths[i] = max(w.widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range w.rows {
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", w.widths[i]-utf8.RuneCountInString(cell)+columnGap))
			}
		}
		b.WriteByte('\n')
	}
	w.rows = w.rows[:0]
	_, err := io.WriteString(w.out, b.String())
	return err
}

func (w *columnWriter) blankLine() { w.rows = append(w.rows, nil) }
