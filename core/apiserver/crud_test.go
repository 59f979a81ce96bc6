package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

const cmPath = "/api/v1/namespaces/default/configmaps"

func TestCreateGetUpdateDelete(t *testing.T) {
	ts := newTestServer(t)
	created := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("app", nil, map[string]string{"k": "v"})))
	if created.Kind != "ConfigMap" || created.APIVersion != "v1" || created.Namespace != "default" || created.UID == "" || created.ResourceVersion == "" {
		t.Fatalf("created object lacks type or identity: %+v", created)
	}
	got := decode[api.ConfigMap](t, ts.must(200, "GET", cmPath+"/app", nil))
	if got.Data["k"] != "v" || got.Kind != "ConfigMap" || got.ResourceVersion != created.ResourceVersion {
		t.Fatalf("GET returned %+v", got)
	}

	code, body := ts.do("POST", cmPath, "", mustJSON(t, configMap("app", nil, nil)))
	expectStatus(t, code, body, 409, api.ReasonAlreadyExists)

	// Update with the current resourceVersion succeeds; with the old one conflicts.
	got.Data["k"] = "v2"
	updated := decode[api.ConfigMap](t, ts.must(200, "PUT", cmPath+"/app", got))
	if updated.Data["k"] != "v2" || updated.ResourceVersion == got.ResourceVersion {
		t.Fatalf("update not applied: %+v", updated)
	}
	code, body = ts.do("PUT", cmPath+"/app", "", mustJSON(t, got))
	expectStatus(t, code, body, 409, api.ReasonConflict)

	// Name in the body must match the URL.
	code, body = ts.do("PUT", cmPath+"/other", "", mustJSON(t, updated))
	expectStatus(t, code, body, 400, api.ReasonBadRequest)

	deleted := decode[api.ConfigMap](t, ts.must(200, "DELETE", cmPath+"/app", nil))
	if deleted.Name != "app" {
		t.Fatalf("DELETE returned %+v", deleted)
	}
	code, body = ts.do("GET", cmPath+"/app", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)
	code, body = ts.do("DELETE", cmPath+"/app", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)
	code, body = ts.do("PUT", cmPath+"/app", "", mustJSON(t, updated))
	expectStatus(t, code, body, 404, api.ReasonNotFound)
}

func TestCreateFromYAMLAndGenerateName(t *testing.T) {
	ts := newTestServer(t)
	yamlBody := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\ndata:\n  a: b\n"
	code, body := ts.do("POST", cmPath, "application/yaml", []byte(yamlBody))
	if code != 201 {
		t.Fatalf("YAML create: %d %s", code, body)
	}
	cm := decode[api.ConfigMap](t, body)
	if !strings.HasPrefix(cm.Name, "gen-") || len(cm.Name) != len("gen-")+5 || cm.Data["a"] != "b" {
		t.Fatalf("generateName gave %q", cm.Name)
	}
	for _, c := range cm.Name[4:] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			t.Fatalf("generated suffix %q is not lowercase alphanumeric", cm.Name[4:])
		}
	}
}

func TestCreateNamespaceRules(t *testing.T) {
	ts := newTestServer(t)
	// Namespace in the body must match the URL's.
	cm := configMap("x", nil, nil)
	cm.Namespace = "other"
	code, body := ts.do("POST", cmPath, "", mustJSON(t, cm))
	expectStatus(t, code, body, 400, api.ReasonBadRequest)

	// A namespace that does not exist: 404.
	code, body = ts.do("POST", "/api/v1/namespaces/nope/configmaps", "", mustJSON(t, configMap("x", nil, nil)))
	st := expectStatus(t, code, body, 404, api.ReasonNotFound)
	if !strings.Contains(st.Message, "nope") {
		t.Fatalf("message does not name the namespace: %q", st.Message)
	}

	// A terminating namespace: 403. Deleting a namespace keeps it
	// (finalizer) with a deletionTimestamp until its contents are gone.
	ts.must(201, "POST", "/api/v1/namespaces", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "doomed"}})
	ts.must(202, "DELETE", "/api/v1/namespaces/doomed", nil)
	code, body = ts.do("POST", "/api/v1/namespaces/doomed/configmaps", "", mustJSON(t, configMap("x", nil, nil)))
	expectStatus(t, code, body, 403, api.ReasonForbidden)

	// Cluster-scoped writes through a namespaced URL are not a route.
	code, body = ts.do("POST", "/api/v1/namespaces/default/nodes", "", mustJSON(t, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n"}}))
	expectStatus(t, code, body, 404, api.ReasonNotFound)
}

// TestBadInputLeavesStoreUnchanged sends malformed or wrong bodies: each
// gets a clear Status and nothing is written.
func TestBadInputLeavesStoreUnchanged(t *testing.T) {
	ts := newTestServer(t)
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", MaxBodyBytes) + `"}}`
	cases := []struct {
		name, contentType, body string
		code                    int
		reason                  api.StatusReason
		inMessage               string
	}{
		{"malformed JSON", "", `{"apiVersion":"v1","kind":"ConfigMap",`, 400, api.ReasonBadRequest, "JSON"},
		{"malformed YAML", "application/yaml", "metadata:\n  name: [x\n", 400, api.ReasonBadRequest, "YAML"},
		{"unknown field", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"dta":{}}`, 0, "", "dta"},
		{"wrong type", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"data":{"k":1}}`, 0, "", "data"},
		{"missing name", "", `{"apiVersion":"v1","kind":"ConfigMap","data":{"k":"v"}}`, 422, api.ReasonInvalid, "metadata.name"},
		{"kind not matching URL", "", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, 400, api.ReasonBadRequest, "Secret"},
		{"apiVersion not matching URL", "", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"s"}}`, 400, api.ReasonBadRequest, "apps/v1"},
		{"body over the limit", "", big, 413, api.ReasonRequestTooLarge, "limit"},
		{"unsupported media type", "text/plain", `name: x`, 415, api.ReasonUnsupportedMedia, "text/plain"},
		{"empty body", "", ``, 400, api.ReasonBadRequest, "empty"},
		{"invalid name", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`, 422, api.ReasonInvalid, "metadata.name"},
	}
	before := ts.revision()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do("POST", cmPath, tc.contentType, []byte(tc.body))
			var st api.Status
			if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
				t.Fatalf("code %d, body is not a Status: %.200s", code, body)
			}
			if tc.code != 0 && (code != tc.code || st.Reason != tc.reason) {
				t.Fatalf("code %d reason %q, want %d %q: %s", code, st.Reason, tc.code, tc.reason, st.Message)
			}
			// Strict decoding errors may be 400 or 422, but never success.
			if tc.code == 0 && code != 400 && code != 422 {
				t.Fatalf("code %d, want 400 or 422: %s", code, st.Message)
			}
			if !strings.Contains(st.Message, tc.inMessage) {
				t.Fatalf("message %q does not mention %q", st.Message, tc.inMessage)
			}
		})
	}
	if names, _ := ts.listNames(cmPath); len(names) != 0 {
		t.Fatalf("bad requests stored objects: %v", names)
	}
	if after := ts.revision(); after != before {
		t.Fatalf("store revision moved from %d to %d", before, after)
	}
}

func TestRoutingErrors(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		method, path string
		code         int
		reason       api.StatusReason
	}{
		{"GET", "/api/v1/widgets", 404, api.ReasonNotFound},
		{"GET", "/apis/apps/v2/deployments", 404, api.ReasonNotFound},
		{"GET", "/api/v1/namespaces/default/configmaps/x/status", 404, api.ReasonNotFound},
		{"POST", cmPath + "/x", 405, api.ReasonMethodNotAllowed},
		{"PUT", cmPath, 405, api.ReasonMethodNotAllowed},
		{"POST", "/api/v1/configmaps", 405, api.ReasonMethodNotAllowed},
		{"GET", "/nothing", 404, api.ReasonNotFound},
	} {
		code, body := ts.do(tc.method, tc.path, "", []byte("{}"))
		t.Run(tc.method+tc.path, func(t *testing.T) { expectStatus(t, code, body, tc.code, tc.reason) })
	}
}

func TestUpdateIgnoresStatusAndStatusIgnoresSpec(t *testing.T) {
	ts := newTestServer(t)
	path := "/apis/apps/v1/namespaces/default/deployments"
	d := decode[api.Deployment](t, ts.must(201, "POST", path, deployment("web", 2)))

	// Client-sent status on the main resource is dropped.
	d.Status.Replicas = 7
	d.Spec.Replicas = new(int32(3))
	out := decode[api.Deployment](t, ts.must(200, "PUT", path+"/web", d))
	if out.Status.Replicas != 0 || *out.Spec.Replicas != 3 {
		t.Fatalf("PUT main: status.replicas %d (want 0), spec.replicas %d (want 3)", out.Status.Replicas, *out.Spec.Replicas)
	}
	if out.Generation != 2 {
		t.Fatalf("spec change did not bump generation: %d", out.Generation)
	}

	// Spec sent to /status is dropped; status is written.
	out.Status.Replicas = 3
	out.Spec.Replicas = new(int32(9))
	st := decode[api.Deployment](t, ts.must(200, "PUT", path+"/web/status", out))
	if st.Status.Replicas != 3 || *st.Spec.Replicas != 3 {
		t.Fatalf("PUT status: status.replicas %d (want 3), spec.replicas %d (want 3)", st.Status.Replicas, *st.Spec.Replicas)
	}
	got := decode[api.Deployment](t, ts.must(200, "GET", path+"/web/status", nil))
	if got.Status.Replicas != 3 {
		t.Fatalf("GET status: %+v", got.Status)
	}
	// A merge patch of status through /status.
	patched := ts.patch(200, path+"/web/status", "application/merge-patch+json", `{"status":{"readyReplicas":2}}`)
	if p := decode[api.Deployment](t, patched); p.Status.ReadyReplicas != 2 || p.Status.Replicas != 3 {
		t.Fatalf("status patch: %+v", p.Status)
	}
}

func (ts *testServer) patch(want int, path, contentType, body string) []byte {
	ts.t.Helper()
	code, out := ts.do("PATCH", path, contentType, []byte(body))
	if code != want {
		ts.t.Fatalf("PATCH %s: code %d, want %d: %s", path, code, want, out)
	}
	return out
}

func TestPatch(t *testing.T) {
	ts := newTestServer(t)
	cm := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("p", map[string]string{"a": "1"}, map[string]string{"x": "1", "y": "2"})))

	out := decode[api.ConfigMap](t, ts.patch(200, cmPath+"/p", "application/merge-patch+json", `{"metadata":{"labels":{"b":"2"}},"data":{"y":null,"z":"3"}}`))
	if out.Labels["a"] != "1" || out.Labels["b"] != "2" || out.Data["x"] != "1" || out.Data["z"] != "3" {
		t.Fatalf("merge patch result: labels %v data %v", out.Labels, out.Data)
	}
	if _, ok := out.Data["y"]; ok {
		t.Fatal("merge patch null did not remove data.y")
	}
	out = decode[api.ConfigMap](t, ts.patch(200, cmPath+"/p", "application/strategic-merge-patch+json", `{"data":{"s":"1"}}`))
	if out.Data["s"] != "1" || out.Data["x"] != "1" {
		t.Fatalf("strategic merge patch result: %v", out.Data)
	}
	out = decode[api.ConfigMap](t, ts.patch(200, cmPath+"/p", "application/json-patch+json", `[{"op":"replace","path":"/data/x","value":"9"},{"op":"remove","path":"/data/z"}]`))
	if out.Data["x"] != "9" || out.Data["z"] != "" {
		t.Fatalf("JSON patch result: %v", out.Data)
	}

	// A stale resourceVersion in the patch is a precondition: 409.
	code, body := ts.do("PATCH", cmPath+"/p", "application/merge-patch+json", []byte(`{"metadata":{"resourceVersion":"`+cm.ResourceVersion+`"},"data":{"q":"1"}}`))
	expectStatus(t, code, body, 409, api.ReasonConflict)
	code, body = ts.do("PATCH", cmPath+"/p", "application/json", []byte(`{}`))
	expectStatus(t, code, body, 415, api.ReasonUnsupportedMedia)
	code, body = ts.do("PATCH", cmPath+"/p", "application/merge-patch+json", []byte(`{"data":`))
	expectStatus(t, code, body, 400, api.ReasonBadRequest)
	code, body = ts.do("PATCH", cmPath+"/p", "application/json-patch+json", []byte(`[{"op":"remove","path":"/data/nothere"}]`))
	expectStatus(t, code, body, 422, api.ReasonInvalid)
	code, body = ts.do("PATCH", cmPath+"/p", "application/merge-patch+json", []byte(`{"metadata":{"name":"renamed"}}`))
	expectStatus(t, code, body, 400, api.ReasonBadRequest)
	code, body = ts.do("PATCH", cmPath+"/missing", "application/merge-patch+json", []byte(`{}`))
	expectStatus(t, code, body, 404, api.ReasonNotFound)
}

func TestDeleteOptions(t *testing.T) {
	ts := newTestServer(t)
	cm := decode[api.ConfigMap](t, ts.must(201, "POST", cmPath, configMap("d", nil, nil)))

	// Preconditions that do not hold: 409, object kept.
	code, body := ts.do("DELETE", cmPath+"/d", "", []byte(`{"preconditions":{"uid":"not-it"}}`))
	expectStatus(t, code, body, 409, api.ReasonConflict)
	code, body = ts.do("DELETE", cmPath+"/d", "", []byte(`{"preconditions":{"resourceVersion":"1"}}`))
	expectStatus(t, code, body, 409, api.ReasonConflict)
	code, body = ts.do("DELETE", cmPath+"/d?propagationPolicy=Sideways", "", nil)
	expectStatus(t, code, body, 400, api.ReasonBadRequest)
	ts.must(200, "GET", cmPath+"/d", nil)

	// Foreground keeps the object with the foregroundDeletion finalizer
	// for the garbage collector.
	kept := decode[api.ConfigMap](t, ts.must(202, "DELETE", cmPath+"/d", `{"propagationPolicy":"Foreground","preconditions":{"uid":"`+cm.UID+`"}}`))
	if kept.DeletionTimestamp == nil || !slices.Contains(kept.Finalizers, FinalizerForeground) {
		t.Fatalf("foreground delete: %+v", kept.ObjectMeta)
	}
	ts.must(202, "DELETE", cmPath+"/d?propagationPolicy=Orphan", nil)
	got := decode[api.ConfigMap](t, ts.must(200, "GET", cmPath+"/d", nil))
	if !slices.Contains(got.Finalizers, FinalizerOrphan) {
		t.Fatalf("orphan delete did not add its finalizer: %v", got.Finalizers)
	}
}

func TestGracefulPodDeletion(t *testing.T) {
	ts := newTestServer(t)
	podPath := "/api/v1/namespaces/default/pods"
	ts.must(201, "POST", podPath, pod("bound", "n1", nil))
	ts.must(201, "POST", podPath, pod("unbound", "", nil))

	// A pod that runs on a node is marked, not removed, so the agent can stop it.
	marked := decode[api.Pod](t, ts.must(202, "DELETE", podPath+"/bound", nil))
	if marked.DeletionTimestamp == nil || marked.DeletionGracePeriodSeconds == nil || *marked.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful delete: %+v", marked.ObjectMeta)
	}
	ts.must(200, "GET", podPath+"/bound", nil)
	// The agent's final delete with grace 0 removes it.
	ts.must(200, "DELETE", podPath+"/bound?gracePeriodSeconds=0", nil)
	code, body := ts.do("GET", podPath+"/bound", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)

	// A pod on no node goes at once.
	ts.must(200, "DELETE", podPath+"/unbound", nil)
	code, body = ts.do("GET", podPath+"/unbound", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)
}

func TestAuthentication(t *testing.T) {
	ts := newTestServer(t)
	for _, tok := range []string{"", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		resp := ts.send("GET", cmPath, "", nil, tok)
		body := readAll(t, resp)
		expectStatus(t, resp.StatusCode, body, 401, api.ReasonUnauthorized)
	}
	for _, p := range []string{"/healthz", "/readyz", "/version"} {
		resp := ts.send("GET", p, "", nil, "")
		if body := readAll(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%s without token: %d %s", p, resp.StatusCode, body)
		}
	}
	resp := ts.send("GET", "/version", "", nil, "")
	if v := decode[versionInfo](t, readAll(t, resp)); v.GitVersion == "" || v.GoVersion == "" {
		t.Fatalf("version: %+v", v)
	}

	// An issued token works at once, and /metrics counted the 401s.
	tok, err := ts.IssueToken("agent:n1")
	if err != nil {
		t.Fatal(err)
	}
	if resp := ts.send("GET", cmPath, "", nil, tok); resp.StatusCode != 200 {
		t.Fatalf("issued token: %d %s", resp.StatusCode, readAll(t, resp))
	} else {
		resp.Body.Close()
	}
	metrics := string(ts.must(200, "GET", "/metrics", nil))
	for _, want := range []string{`skiff_apiserver_requests_total{code="200",resource="configmaps",verb="LIST"}`, `code="401"`, "skiff_apiserver_request_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}

func TestDiscovery(t *testing.T) {
	ts := newTestServer(t)
	versions := decode[apiVersionsDoc](t, ts.must(200, "GET", "/api", nil))
	if joinNames(versions.Versions) != "v1" {
		t.Fatalf("/api: %+v", versions)
	}
	groups := decode[apiGroupListDoc](t, ts.must(200, "GET", "/apis", nil))
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	if joinNames(names) != "apps,batch,coordination.k8s.io" {
		t.Fatalf("/apis groups: %v", names)
	}
	core := decode[apiResourceListDoc](t, ts.must(200, "GET", "/api/v1", nil))
	apps := decode[apiResourceListDoc](t, ts.must(200, "GET", "/apis/apps/v1", nil))
	find := func(l *apiResourceListDoc, name string) *apiResourceDoc {
		for i := range l.Resources {
			if l.Resources[i].Name == name {
				return &l.Resources[i]
			}
		}
		t.Fatalf("%s lacks %s", l.GroupVersion, name)
		return nil
	}
	if p := find(core, "pods"); !p.Namespaced || p.Kind != "Pod" || !slices.Contains(p.ShortNames, "po") || !slices.Contains(p.Verbs, "watch") {
		t.Fatalf("pods: %+v", p)
	}
	if n := find(core, "nodes"); n.Namespaced {
		t.Fatal("nodes listed as namespaced")
	}
	find(core, "pods/binding")
	if s := find(apps, "deployments/scale"); s.Kind != "Scale" {
		t.Fatalf("deployments/scale: %+v", s)
	}
	code, body := ts.do("GET", "/apis/nope", "", nil)
	expectStatus(t, code, body, 404, api.ReasonNotFound)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
