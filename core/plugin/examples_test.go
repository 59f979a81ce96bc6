package plugin

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/admission"
	"github.com/skiff-sh/skiff/sdk/scheduler"
	"github.com/skiff-sh/skiff/wasm-examples/app-limit/applimit"
)

func TestFilterExampleBuiltinAndWasmAgree(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(applimit.Descriptor, applimit.New)
	h := newTestHost(t, reg)
	args := map[string]any{"max": 2}
	if err := h.Apply([]Spec{
		{Name: "app-limit", Point: sdk.PointFilter, Args: args},
		{Name: "app-limit-wasm", Point: sdk.PointFilter, Wasm: artifact("app-limit.wasm"), Args: args},
	}); err != nil {
		t.Fatal(err)
	}
	table := scheduler.NewNodeTable()
	for i := range 6 {
		n := &scheduler.Node{Name: fmt.Sprintf("n%d", i)}
		for range i {
			n.Pods = append(n.Pods, scheduler.PodRef{Namespace: "default", Name: "w", Labels: scheduler.MakeLabels(map[string]string{"app": "web"})})
		}
		table.Set(n)
	}
	pod := &scheduler.Pod{Namespace: "default", Name: "web-9", Labels: scheduler.MakeLabels(map[string]string{"app": "web"})}
	var got [][]string
	table.Read(func(s scheduler.Snapshot) {
		for _, p := range h.Filters() {
			reasons := make([]string, len(s.Nodes))
			if _, err := p.Filter(context.Background(), pod, s, allSlots(s), reasons); err != nil {
				t.Fatal(err)
			}
			got = append(got, reasons)
		}
	})
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("builtin %q\n   wasm %q", got[0], got[1])
	}
	fits := 0
	for _, r := range got[1] {
		if r == "" {
			fits++
		}
	}
	if fits != 2 || !strings.Contains(got[1][5], "node runs 5 pods of app=web, the limit is 2") {
		t.Errorf("wasm reasons %q: want nodes n0 and n1 to fit", got[1])
	}
}

func TestAdmissionExampleThroughWasm(t *testing.T) {
	h := newTestHost(t, nil)
	err := h.Apply([]Spec{{Name: "require-requests", Point: sdk.PointAdmission, Wasm: artifact("require-requests.wasm"),
		Args: map[string]any{"defaultLabels": map[string]any{"team": "unknown"}}}})
	if err != nil {
		t.Fatal(err)
	}
	a := h.Admitters()[0]
	req := &admission.Request{Operation: admission.Create, Kind: "Pod", Namespace: "default", Name: "bare",
		Object: []byte(`{"spec":{"containers":[{"name":"app"}]}}`)}
	resp, err := a.Admit(context.Background(), req)
	if err != nil || resp.Allowed || !strings.Contains(resp.Reason, `container "app": resources.requests.cpu: must be set`) {
		t.Fatalf("pod without requests: %+v %v", resp, err)
	}
	req.Object = []byte(`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1","memory":"1Gi"}}}]}}`)
	resp, err = a.Admit(context.Background(), req)
	if err != nil || !resp.Allowed || string(resp.Patch) != `{"metadata":{"labels":{"team":"unknown"}}}` {
		t.Fatalf("pod with requests: %+v %v", resp, err)
	}
}
