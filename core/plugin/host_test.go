package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/admission"
	"github.com/skiff-sh/skiff/sdk/scheduler"
	"github.com/skiff-sh/skiff/wasm-examples/zone-pref/zonepref"
)

// broken fails every call.
type brokenPlugin struct{}

func (brokenPlugin) Score(context.Context, *scheduler.Pod, []*scheduler.Node, []int32, []int64) error {
	return errors.New("backend unavailable")
}

func (brokenPlugin) Filter(context.Context, *scheduler.Pod, []*scheduler.Node, []int32, []string) error {
	return errors.New("backend unavailable")
}

func (brokenPlugin) Admit(context.Context, *admission.Request) (*admission.Response, error) {
	return nil, errors.New("backend unavailable")
}

func brokenRegistry(t *testing.T) *Registry {
	reg := zoneRegistry(t)
	f := func(sdk.Args, sdk.Handle) (any, error) { return brokenPlugin{}, nil }
	for _, point := range []sdk.Point{sdk.PointScore, sdk.PointFilter, sdk.PointAdmission} {
		reg.MustRegister(sdk.NewDescriptor("broken", point), f)
	}
	return reg
}

func TestFailurePolicy(t *testing.T) {
	for _, policy := range []FailurePolicy{FailOpen, FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			h := newTestHost(t, brokenRegistry(t))
			specs := []Spec{
				{Name: "broken", Point: sdk.PointScore, FailurePolicy: policy},
				{Name: "broken", Point: sdk.PointFilter, FailurePolicy: policy},
				{Name: "broken", Point: sdk.PointAdmission, FailurePolicy: policy},
				{Name: "misbehave", Point: sdk.PointScore, Wasm: artifact("misbehave.wasm"), FailurePolicy: policy, Timeout: 20 * time.Second},
			}
			if err := h.Apply(specs); err != nil {
				t.Fatal(err)
			}
			table := zoneTable(5)
			open := policy == FailOpen
			for _, p := range h.Scorers() {
				scores, applied, err := score(t, p, table, modePod("error"))
				if applied || (err == nil) != open {
					t.Errorf("score %s: applied=%v err=%v", p.Name(), applied, err)
				}
				for _, s := range scores {
					if s != 0 {
						t.Errorf("score %s: a failed call left scores %v", p.Name(), scores)
					}
				}
				if err != nil && !strings.Contains(err.Error(), p.Name()) {
					t.Errorf("error does not name the plugin: %v", err)
				}
			}
			table.Read(func(s scheduler.Snapshot) {
				reasons := make([]string, len(s.Nodes))
				applied, err := h.Filters()[0].Filter(context.Background(), zonePod("a"), s, allSlots(s), reasons)
				if applied || (err == nil) != open {
					t.Errorf("filter: applied=%v err=%v", applied, err)
				}
			})
			resp, err := h.Admitters()[0].Admit(context.Background(), &admission.Request{Operation: admission.Create, Kind: "Pod", Name: "p"})
			if open && (err != nil || !resp.Allowed || len(resp.Warnings) != 1) {
				t.Errorf("fail-open admission: resp=%+v err=%v, want allowed with a warning", resp, err)
			}
			if !open && (err == nil || resp != nil) {
				t.Errorf("fail-closed admission: resp=%+v err=%v, want an error", resp, err)
			}
			for _, st := range h.Status() {
				if st.State != StateFailing || st.Errors != 1 || st.Calls != 1 {
					t.Errorf("status %+v: want failing with 1 call, 1 error", st)
				}
			}
		})
	}
}

func TestApplyInvalidKeepsOldSelection(t *testing.T) {
	h := newTestHost(t, zoneRegistry(t))
	good := []Spec{{Name: "zone-pref", Point: sdk.PointScore, Weight: 2}}
	if err := h.Apply(good); err != nil {
		t.Fatal(err)
	}
	before := h.Scorers()[0]
	wasm := artifact("zone-pref.wasm")
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "nope", Point: sdk.PointScore}, `plugin scheduler.score "nope": name: no builtin scheduler.score plugin named "nope" (builtins: [zone-pref])`},
		{Spec{Name: "zone-pref", Point: sdk.PointScore, FailurePolicy: "sometimes"}, `failurePolicy: must be fail-closed or fail-open, got "sometimes"`},
		{Spec{Name: "zone-pref", Point: sdk.PointScore, Weight: -1}, "weight: must be >= 0, got -1"},
		{Spec{Name: "z", Point: "scheduler.rank", Wasm: wasm}, `point: unknown extension point "scheduler.rank"`},
		{Spec{Name: "z", Point: sdk.PointScore, Wasm: "/nonexistent.wasm"}, "wasm: stat /nonexistent.wasm"},
		{Spec{Name: "z", Point: sdk.PointScore, Wasm: wasm, SHA256: "abc"}, "sha256: want 64 hex digits"},
		{Spec{Name: "z", Point: sdk.PointFilter, Wasm: wasm}, "is configured as scheduler.filter"},
		{Spec{Name: "z", Point: sdk.PointScore, Wasm: wasm, Args: map[string]any{"score": 500}}, "configure: args: score: must be in [0, 100], got 500"},
		{Spec{Name: "z", Point: sdk.PointController, Wasm: wasm}, "cannot be served by a WASM module"},
		{Spec{Name: "z", Point: sdk.PointNetwork, Wasm: wasm}, "implements scheduler.score (plugin \"zone-pref\"), but is configured as network"},
		{Spec{Name: "z", Point: sdk.PointProxy, Wasm: wasm, FailurePolicy: FailOpen}, "failurePolicy: a proxy plugin has no fallback plan"},
	}
	for _, tt := range tests {
		// The bad entry comes after a valid one: nothing of the new
		// selection may be applied.
		err := h.Apply([]Spec{{Name: "zone-pref", Point: sdk.PointScore, Weight: 5}, tt.spec})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Apply(%+v): err = %v, want it to contain %q", tt.spec, err, tt.want)
		}
		if got := h.Scorers(); len(got) != 1 || got[0] != before || got[0].Weight() != 2 {
			t.Fatalf("after a failed Apply the selection changed: %+v", h.Status())
		}
	}
	dup := append(good, good[0])
	if err := h.Apply(dup); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate entry: err = %v", err)
	}

	// A weight change reuses the loaded plugin; a removed one is unloaded.
	if err := h.Apply([]Spec{{Name: "zone-pref", Point: sdk.PointScore, Weight: 3}}); err != nil {
		t.Fatal(err)
	}
	after := h.Scorers()[0]
	if after.loaded != before.loaded || after.Weight() != 3 {
		t.Errorf("weight change reloaded the plugin (or lost the weight: %d)", after.Weight())
	}
	if err := h.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if !after.loaded.closed || len(h.Status()) != 0 {
		t.Error("a plugin removed from the selection is still loaded")
	}
}

func TestSHA256Pinning(t *testing.T) {
	h := newTestHost(t, nil)
	wrong := strings.Repeat("0", 64)
	for _, spec := range []Spec{
		{Name: "w", Point: sdk.PointScore, Wasm: artifact("zone-pref.wasm"), SHA256: wrong},
		{Name: "p", Point: sdk.PointScore, Process: artifact("zone-pref-process"), SHA256: wrong},
	} {
		err := h.Apply([]Spec{spec})
		if err == nil || !strings.Contains(err.Error(), "sha256: ") || !strings.Contains(err.Error(), "refusing to load") {
			t.Errorf("%s with a wrong pin: err = %v", spec.Path(), err)
		}
		code, err := os.ReadFile(spec.Path())
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(code)
		spec.SHA256 = hex.EncodeToString(sum[:])
		if err := h.Apply([]Spec{spec}); err != nil {
			t.Errorf("%s with the right pin: %v", spec.Path(), err)
		}
	}
}

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	if err := reg.Register(zonepref.Descriptor, zonepref.New); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(zonepref.Descriptor, zonepref.New); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate: err = %v", err)
	}
	if err := reg.Register(sdk.Descriptor{Name: "x", Point: sdk.PointScore, Version: "scheduler.v0"}, zonepref.New); err == nil {
		t.Error("registered a plugin built against another contract version")
	}
	if err := reg.Register(sdk.NewDescriptor("x", sdk.PointScore), nil); err == nil {
		t.Error("registered a nil factory")
	}
	// The same name may serve another point.
	if err := reg.Register(sdk.NewDescriptor("zone-pref", sdk.PointFilter), zonepref.New); err != nil {
		t.Error(err)
	}
	// ... but the factory must build a plugin of that point.
	h := newTestHost(t, reg)
	if err := h.Apply([]Spec{{Name: "zone-pref", Point: sdk.PointFilter}}); err == nil || !strings.Contains(err.Error(), "does not implement") {
		t.Errorf("score plugin registered as a filter: err = %v", err)
	}
}

func TestStatusAndMetrics(t *testing.T) {
	promReg := prometheus.NewRegistry()
	h, err := NewHost(Options{Registry: zoneRegistry(t), Metrics: promReg, WasmCacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Apply([]Spec{{Name: "zone-pref", Point: sdk.PointScore, Timeout: 50 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	table := zoneTable(50)
	for range 20 {
		if _, _, err := score(t, h.Scorers()[0], table, zonePod("a")); err != nil {
			t.Fatal(err)
		}
	}
	st := h.Status()
	if len(st) != 1 || st[0].Calls != 20 || st[0].Errors != 0 || st[0].State != StateLoaded || st[0].P99 <= 0 {
		t.Fatalf("status = %+v", st)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"loader":"builtin"`) || !strings.Contains(string(b), `"version":"scheduler.v1"`) {
		t.Errorf("status JSON %s (%v)", b, err)
	}
	families, err := promReg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				counts[f.GetName()] += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				counts[f.GetName()] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if counts["skiff_plugin_calls_total"] != 20 || counts["skiff_plugin_call_duration_seconds"] != 20 {
		t.Errorf("metrics = %v, want 20 calls observed", counts)
	}
	// A second host on the same registry shares the collectors.
	h2, err := NewHost(Options{Metrics: promReg})
	if err != nil {
		t.Fatalf("second host on one registry: %v", err)
	}
	h2.Close()
}
