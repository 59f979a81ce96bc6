package ownerlabel

import (
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestPatch(t *testing.T) {
	args := Args{}.WithDefaults()
	ns := func(labels map[string]string) *api.Namespace {
		return &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a", Labels: labels}}
	}
	dep := func(annotations map[string]string) *api.Deployment {
		return &api.Deployment{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web", Annotations: annotations}}
	}
	for name, tc := range map[string]struct {
		ns   *api.Namespace
		dep  *api.Deployment
		want string
	}{
		"copies the label":             {ns(map[string]string{"owner": "alice"}), dep(nil), `{"metadata":{"annotations":{"skiff.io/owner":"alice"}}}`},
		"follows a change":             {ns(map[string]string{"owner": "bob"}), dep(map[string]string{"skiff.io/owner": "alice"}), `{"metadata":{"annotations":{"skiff.io/owner":"bob"}}}`},
		"removes without a label":      {ns(nil), dep(map[string]string{"skiff.io/owner": "alice"}), `{"metadata":{"annotations":{"skiff.io/owner":null}}}`},
		"in step":                      {ns(map[string]string{"owner": "alice"}), dep(map[string]string{"skiff.io/owner": "alice"}), ""},
		"neither":                      {ns(nil), dep(nil), ""},
		"empty label is still a value": {ns(map[string]string{"owner": ""}), dep(nil), `{"metadata":{"annotations":{"skiff.io/owner":""}}}`},
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(Patch(args, tc.ns, tc.dep)); got != tc.want {
				t.Fatalf("patch %s, want %s", got, tc.want)
			}
		})
	}
	custom := Args{Label: "team", Annotation: "example.com/team"}
	if got := string(Patch(custom, ns(map[string]string{"team": "db"}), dep(nil))); got != `{"metadata":{"annotations":{"example.com/team":"db"}}}` {
		t.Fatalf("custom args: %s", got)
	}
}
