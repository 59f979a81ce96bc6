package requirerequests

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/admission"
)

func admit(t *testing.T, args, object string) *admission.Response {
	t.Helper()
	p, err := New(sdk.Args(args), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.(admission.Plugin).Admit(context.Background(), &admission.Request{
		Operation: admission.Create, Kind: "Pod", Namespace: "default", Name: "web", Object: []byte(object)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

const withRequests = `{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}`

func TestDeniesPodsWithoutRequests(t *testing.T) {
	resp := admit(t, "", `{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1"}}}]}}`)
	if resp.Allowed || !strings.Contains(resp.Reason, `container "app": resources.requests.memory: must be set`) {
		t.Errorf("response = %+v", resp)
	}
	if resp := admit(t, "", withRequests); !resp.Allowed || resp.Patch != nil {
		t.Errorf("pod with requests: %+v", resp)
	}
}

func TestAddsDefaultLabels(t *testing.T) {
	resp := admit(t, `{"defaultLabels":{"app":"x","team":"unknown"}}`, withRequests)
	if !resp.Allowed || string(resp.Patch) != `{"metadata":{"labels":{"team":"unknown"}}}` {
		t.Errorf("response = %+v, patch %s", resp, resp.Patch)
	}
}

func TestIgnoresOtherKinds(t *testing.T) {
	p, _ := New(nil, nil)
	resp, err := p.(admission.Plugin).Admit(context.Background(), &admission.Request{Operation: admission.Create, Kind: "Service", Object: []byte(`{}`)})
	if err != nil || !resp.Allowed {
		t.Errorf("service: %+v %v", resp, err)
	}
}
