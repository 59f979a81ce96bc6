package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func podWithRequests(name string, requests bool) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}}}
	c := api.Container{Name: "app", Image: "busybox"}
	if requests {
		c.Resources.Requests = api.ResourceList{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("64Mi")}
	}
	p.Spec.Containers = []api.Container{c}
	return p
}

// An admission plugin from the config file (the require-requests WASM
// example) denies and mutates writes, and removing it from the file lets
// the same write through without a restart.
func TestAdmissionPluginsFromTheConfigFile(t *testing.T) {
	withPolicy := fmt.Sprintf("admission:\n  - {name: require-requests, wasm: %s, failure-policy: fail-closed, args: {defaultLabels: {team: unknown, app: none}}}\n",
		artifact("require-requests.wasm"))
	cl := startCluster(t, defaultsYAML+withPolicy)
	ctx := context.Background()

	_, err := client.Create(ctx, cl.c, podWithRequests("bare", false))
	var st *api.Status
	if !errors.As(err, &st) || st.Code != 403 || st.Reason != api.ReasonForbidden {
		t.Fatalf("a pod without requests: want 403 Forbidden, got %v", err)
	}
	const msg = `admission plugin "require-requests" denied the request: pod "bare": container "app": resources.requests.cpu: must be set`
	if !strings.HasPrefix(st.Message, msg) {
		t.Fatalf("denial message:\n got %s\nwant %s...", st.Message, msg)
	}
	if _, err := client.Get[*api.Pod](ctx, cl.c, "default", "bare"); !api.IsNotFound(err) {
		t.Fatalf("the denied pod was stored: %v", err)
	}

	created, err := client.Create(ctx, cl.c, podWithRequests("sized", true))
	if err != nil {
		t.Fatalf("a pod with requests: %v", err)
	}
	if l := created.Labels; l["team"] != "unknown" || l["app"] != "web" {
		t.Fatalf("want the default team label added and app kept, got %v", l)
	}
	stored, err := client.Get[*api.Pod](ctx, cl.c, "default", "sized")
	if err != nil || stored.Labels["team"] != "unknown" {
		t.Fatalf("stored pod: labels %v err %v", stored.Labels, err)
	}

	// Remove the plugin from the file: the same pod is now admitted.
	cl.writeConfig(t, defaultsYAML)
	if err := waitReload(t, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Create(ctx, cl.c, podWithRequests("bare", false)); err != nil {
		t.Fatalf("after removing the policy: %v", err)
	}
	for _, s := range cl.host().Status() {
		if s.Name == "require-requests" {
			t.Fatalf("require-requests still loaded: %+v", s)
		}
	}
}
