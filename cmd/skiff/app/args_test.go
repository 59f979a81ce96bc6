package app

import (
	"errors"
	"fmt"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestParseTargets(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string // "plural:name,name;..." or "error"
	}{
		"short name":        {[]string{"po"}, "pods:"},
		"names":             {[]string{"deploy", "a", "b"}, "deployments:a,b"},
		"comma list":        {[]string{"deploy,svc"}, "deployments:;services:"},
		"type/name":         {[]string{"deployment/web", "svc/web", "deploy/api"}, "deployments:web,api;services:web"},
		"group qualified":   {[]string{"deployments.apps/web"}, "deployments:web"},
		"kind":              {[]string{"ConfigMap", "x"}, "configmaps:x"},
		"unknown type":      {[]string{"widgets"}, "error"},
		"mixed forms":       {[]string{"deploy/web", "api"}, "error"},
		"names, two types":  {[]string{"deploy,svc", "web"}, "error"},
		"type then slashed": {[]string{"deploy", "svc/web"}, "error"},
		"nothing":           {nil, "error"},
	}
	for name, tc := range cases {
		ts, err := parseTargets(tc.args)
		got := "error"
		if err == nil {
			got = ""
			for i, tg := range ts {
				if i > 0 {
					got += ";"
				}
				got += tg.res.Plural + ":"
				for j, n := range tg.names {
					if j > 0 {
						got += ","
					}
					got += n
				}
			}
		}
		if got != tc.want {
			t.Errorf("%s: parseTargets(%q) = %s (err %v), want %s", name, tc.args, got, err, tc.want)
		}
	}
}

func TestSplitLabelArgs(t *testing.T) {
	res, change, err := splitLabelArgs([]string{"deploy", "web", "tier=front", "old-", "empty="})
	if err != nil || fmt.Sprint(res) != "[deploy web]" || fmt.Sprint(change.set) != "map[empty: tier:front]" || fmt.Sprint(change.remove) != "[old]" {
		t.Fatalf("got %v %+v %v", res, change, err)
	}
	for _, bad := range [][]string{{"deploy", "web"}, {"deploy", "web", "=v"}, {"deploy", "web", "a=b", "a-"}, {"deploy", "web", "bad key=v"}} {
		if _, _, err := splitLabelArgs(bad); err == nil {
			t.Errorf("splitLabelArgs(%q) accepted", bad)
		}
	}
}

func TestContainerName(t *testing.T) {
	for image, want := range map[string]string{
		"nginx": "nginx", "nginx:1.25": "nginx", "registry.local:5000/team/Web:1.2": "web", "busybox@sha256:abc": "busybox",
	} {
		if got := containerName(image); got != want {
			t.Errorf("containerName(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestFormatError(t *testing.T) {
	res, _ := api.ResourceForKind("Deployment")
	if got := FormatError(fmt.Errorf("wrapped: %w", api.NotFound(res, "x"))); got != `Error from server (NotFound): deployments.apps "x" not found` {
		t.Error(got)
	}
	if got := FormatError(errors.New("two\nlines")); got != "error: two; lines" {
		t.Error(got)
	}
}
