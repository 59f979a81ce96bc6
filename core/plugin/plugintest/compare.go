package plugintest

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/sdk/proxy"
)

// SamePlans plans every input through every form and fails the test when
// the process or WASM plan differs from the builtin's or a call fails. It
// returns the builtin plans by input name.
func SamePlans(t testing.TB, l *Loaded, inputs map[string]network.Input) map[string]network.Plan {
	t.Helper()
	out := map[string]network.Plan{}
	for _, name := range sortedKeys(inputs) {
		for i, p := range l.All() {
			plan, err := p.Plan(context.Background(), inputs[name])
			if err != nil {
				t.Fatalf("input %q: %s: %v", name, p.Name(), err)
			}
			if i == 0 {
				out[name] = plan
			} else if !reflect.DeepEqual(plan, out[name]) {
				t.Errorf("input %q: %s plan differs from builtin:\n got %+v\nwant %+v", name, p.Name(), plan, out[name])
			}
		}
	}
	return out
}

// SameRulesets is SamePlans for proxy plugins. Empty and nil lists count
// as equal: the encodings do not tell them apart and no host does either.
func SameRulesets(t testing.TB, l *Loaded, inputs map[string]*proxy.Input) map[string]*proxy.Ruleset {
	t.Helper()
	out := map[string]*proxy.Ruleset{}
	for _, name := range sortedKeys(inputs) {
		for i, p := range l.All() {
			rs, err := p.Rules(context.Background(), inputs[name])
			if err != nil {
				t.Fatalf("input %q: %s: %v", name, p.Name(), err)
			}
			if i == 0 {
				out[name] = rs
			} else if diff := rulesetDiff(rs, out[name]); diff != "" {
				t.Errorf("input %q: %s ruleset differs from builtin: %s", name, p.Name(), diff)
			}
		}
	}
	return out
}

// SameErrors calls every form with call and fails the test unless each
// fails with an error containing want.
func SameErrors(t testing.TB, l *Loaded, want string, call func(p PluginCaller) error) {
	t.Helper()
	for _, p := range l.All() {
		if err := call(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error containing %q, got %v", p.Name(), want, err)
		}
	}
}

// PluginCaller is what SameErrors hands to its call: a loaded form.
type PluginCaller interface {
	Name() string
	Plan(ctx context.Context, in network.Input) (network.Plan, error)
	Rules(ctx context.Context, in *proxy.Input) (*proxy.Ruleset, error)
}

func rulesetDiff(got, want *proxy.Ruleset) string {
	if got.Prefix != want.Prefix {
		return "prefix " + got.Prefix + ", want " + want.Prefix
	}
	if len(got.Chains) != len(want.Chains) {
		return "chain count differs"
	}
	for i := range got.Chains {
		g, w := got.Chains[i], want.Chains[i]
		if g.Table != w.Table || g.Name != w.Name || !slices.Equal(g.Rules, w.Rules) {
			return "chain " + w.Table + "/" + w.Name + ": got " + g.Table + "/" + g.Name + " " + strings.Join(g.Rules, " | ")
		}
	}
	if len(got.Jumps) != len(want.Jumps) {
		return "jump count differs"
	}
	for i := range got.Jumps {
		g, w := got.Jumps[i], want.Jumps[i]
		if g.Table != w.Table || g.Chain != w.Chain || !slices.Equal(g.Args, w.Args) {
			return "jump " + w.Table + "/" + w.Chain + " differs"
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
