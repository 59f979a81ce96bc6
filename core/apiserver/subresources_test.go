package apiserver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestScaleSubresource(t *testing.T) {
	ts := newTestServer(t)
	path := "/apis/apps/v1/namespaces/default/deployments"
	ts.must(201, "POST", path, deployment("web", 2))

	sc := decode[api.Scale](t, ts.must(200, "GET", path+"/web/scale", nil))
	if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=web" || sc.Name != "web" {
		t.Fatalf("GET scale: %+v", sc)
	}
	sc.Spec.Replicas = 5
	out := decode[api.Scale](t, ts.must(200, "PUT", path+"/web/scale", sc))
	if out.Spec.Replicas != 5 {
		t.Fatalf("PUT scale: %+v", out)
	}
	if d := decode[api.Deployment](t, ts.must(200, "GET", path+"/web", nil)); *d.Spec.Replicas != 5 {
		t.Fatalf("deployment spec.replicas %d after scale", *d.Spec.Replicas)
	}
	// The Scale's resourceVersion is a precondition.
	code, body := ts.do("PUT", path+"/web/scale", "", mustJSON(t, sc))
	expectStatus(t, code, body, 409, api.ReasonConflict)

	out = decode[api.Scale](t, ts.patch(200, path+"/web/scale", "application/merge-patch+json", `{"spec":{"replicas":1}}`))
	if out.Spec.Replicas != 1 {
		t.Fatalf("PATCH scale: %+v", out)
	}
	code, body = ts.do("PATCH", path+"/web/scale", "application/merge-patch+json", []byte(`{"spec":{"replicas":-1}}`))
	expectStatus(t, code, body, 422, api.ReasonInvalid)
	code, body = ts.do("GET", "/apis/apps/v1/namespaces/default/deployments/missing/scale", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)
	code, body = ts.do("GET", "/apis/apps/v1/namespaces/default/daemonsets/x/scale", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)
}

func TestBindingSubresource(t *testing.T) {
	ts := newTestServer(t)
	podPath := "/api/v1/namespaces/default/pods"
	ts.must(201, "POST", podPath, pod("web-x", "", nil))

	st := decode[api.Status](t, ts.must(201, "POST", podPath+"/web-x/binding", `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web-x"},"target":{"kind":"Node","name":"n1"}}`))
	if st.Status != "Success" {
		t.Fatalf("binding: %+v", st)
	}
	p := decode[api.Pod](t, ts.must(200, "GET", podPath+"/web-x", nil))
	if p.Spec.NodeName != "n1" {
		t.Fatalf("pod nodeName %q after binding", p.Spec.NodeName)
	}
	if c := api.GetPodCondition(&p.Status, "PodScheduled"); c == nil || c.Status != "True" {
		t.Fatalf("PodScheduled condition: %+v", c)
	}

	code, body := ts.do("POST", podPath+"/web-x/binding", "", []byte(`{"target":{"name":"n2"}}`))
	s := expectStatus(t, code, body, 409, api.ReasonConflict)
	if s.Message != "pod web-x is already assigned to node n1" {
		t.Fatalf("second binding message: %q", s.Message)
	}
	code, body = ts.do("POST", podPath+"/web-x/binding", "", []byte(`{"target":{}}`))
	expectStatus(t, code, body, 422, api.ReasonInvalid)
	code, body = ts.do("POST", podPath+"/nope/binding", "", []byte(`{"target":{"name":"n1"}}`))
	expectStatus(t, code, body, 404, api.ReasonNotFound)
	code, body = ts.do("GET", podPath+"/web-x/binding", "", nil)
	expectStatus(t, code, body, 405, api.ReasonMethodNotAllowed)
}

// rejectingAdmitter denies creates of objects labelled deny=true and stamps
// the others.
type rejectingAdmitter struct{}

func (rejectingAdmitter) Name() string { return "deny-label" }

func (rejectingAdmitter) Admit(_ context.Context, req AdmissionRequest) (api.Object, error) {
	if req.Object == nil {
		return nil, nil
	}
	meta := req.Object.GetObjectMeta()
	if meta.Labels["deny"] == "true" {
		return nil, errors.New("objects labelled deny=true are not allowed")
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations["admitted-by"] = req.User.Name
	return req.Object, nil
}

func TestAdmissionChain(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Admission = []Admitter{rejectingAdmitter{}} })
	out := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("ok", nil, nil)))
	if out.Annotations["admitted-by"] != AdminUser {
		t.Fatalf("mutating admitter did not run: %v", out.Annotations)
	}
	code, body := ts.do("POST", cmPath, "", mustJSON(t, configMap("no", map[string]string{"deny": "true"}, nil)))
	st := expectStatus(t, code, body, 403, api.ReasonForbidden)
	if !strings.Contains(st.Message, "deny-label") || !strings.Contains(st.Message, "deny=true") {
		t.Fatalf("denial message %q names neither the plugin nor the reason", st.Message)
	}
	ts.Admission().Set(nil)
	ts.must(201, "POST", cmPath, configMap("no", map[string]string{"deny": "true"}, nil))
}
