package applimit

import (
	"context"
	"reflect"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func podsOf(ns string, apps ...string) []scheduler.PodRef {
	var out []scheduler.PodRef
	for _, a := range apps {
		out = append(out, scheduler.PodRef{Namespace: ns, Name: a, Labels: scheduler.MakeLabels(map[string]string{"app": a})})
	}
	return out
}

func TestFilter(t *testing.T) {
	nodes := []*scheduler.Node{
		{Name: "empty"},
		{Name: "one-web", Pods: podsOf("default", "web", "db")},
		{Name: "two-web", Pods: podsOf("default", "web", "web")},
		{Name: "other-ns", Pods: podsOf("prod", "web", "web")},
	}
	p, err := New(sdk.Args(`{"max":2}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	pod := &scheduler.Pod{Namespace: "default", Name: "web-3", Labels: scheduler.MakeLabels(map[string]string{"app": "web"})}
	reasons := make([]string, 4)
	if err := p.(scheduler.FilterPlugin).Filter(context.Background(), pod, nodes, []int32{0, 1, 2, 3}, reasons); err != nil {
		t.Fatal(err)
	}
	want := []string{"", "", "node runs 2 pods of app=web, the limit is 2", ""}
	if !reflect.DeepEqual(reasons, want) {
		t.Errorf("reasons = %q, want %q", reasons, want)
	}
	unlabelled := &scheduler.Pod{Namespace: "default", Name: "x"}
	reasons = make([]string, 4)
	p.(scheduler.FilterPlugin).Filter(context.Background(), unlabelled, nodes, []int32{0, 1, 2, 3}, reasons)
	if !reflect.DeepEqual(reasons, make([]string, 4)) {
		t.Errorf("a pod without the app label was limited: %q", reasons)
	}
}

func TestArgs(t *testing.T) {
	for _, args := range []string{``, `{"max":0}`, `{"max":2,"label":""}`, `{"maks":2}`} {
		if _, err := New(sdk.Args(args), nil); err == nil {
			t.Errorf("args %q accepted", args)
		}
	}
}
