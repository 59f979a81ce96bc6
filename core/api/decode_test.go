package api

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDecodeRealManifest(t *testing.T) {
	data, err := os.ReadFile("testdata/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetTypeMeta().Kind+"/"+o.GetObjectMeta().Name)
	}
	if got := strings.Join(kinds, " "); got != "Namespace/shop Deployment/web Service/web ConfigMap/web-config" {
		t.Fatalf("decoded %s", got)
	}
	d := objs[1].(*Deployment)
	check(t, "replicas", *d.Spec.Replicas, int32(3))
	check(t, "maxSurge is an int", *d.Spec.Strategy.RollingUpdate.MaxSurge, intstr.FromInt32(1))
	c := d.Spec.Template.Spec.Containers[0]
	check(t, "probe port by name", c.ReadinessProbe.HTTPGet.Port, intstr.FromString("http"))
	check(t, "liveness port by number", c.LivenessProbe.TCPSocket.Port, intstr.FromInt32(80))
	mem := c.Resources.Limits["memory"]
	check(t, "memory limit", mem.String(), "128Mi")
	check(t, "env fieldRef", c.Env[0].ValueFrom.FieldRef.FieldPath, "metadata.name")
	svc := objs[2].(*Service)
	check(t, "named targetPort", svc.Spec.Ports[0].TargetPort, intstr.FromString("http"))
	check(t, "numeric targetPort", svc.Spec.Ports[1].TargetPort, intstr.FromInt32(9113))
	for _, o := range objs {
		SetDefaults(o)
		if err := Validate(o); err != nil {
			t.Errorf("a real manifest must validate after defaulting: %v", err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "unknown field with suggestion", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replica: 3\n",
			want: `document 1 (Deployment "web"): unknown field "spec.replica"; did you mean "spec.replicas"?`},
		{name: "wrong case", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    Image: x\n",
			want: `document 1 (Pod "p"): unknown field "spec.containers[0].Image"; did you mean "spec.containers[0].image"?`},
		{name: "unknown field far from any", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nflavour: x\n",
			want: `document 1 (ConfigMap "c"): unknown field "flavour"`},
		{name: "wrong type", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: three\n",
			want: `document 1 (Deployment "web"): spec.replicas: expected integer, got string "three"`},
		{name: "quoted integer", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: \"3\"\n",
			want: `document 1 (Deployment "web"): spec.replicas: expected integer, got string "3"`},
		{name: "integer range", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3000000000\n",
			want: `document 1 (Deployment "web"): spec.replicas: value 3000000000 is out of range for a 32-bit integer (-2147483648 to 2147483647)`},
		{name: "fractional integer", in: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"terminationGracePeriodSeconds":1.5}}`,
			want: `document 1 (Pod "p"): spec.terminationGracePeriodSeconds: expected integer, got number 1.5`},
		{name: "string expected", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  count: 1\n",
			want: `document 1 (ConfigMap "c"): data[count]: expected string, got number 1`},
		{name: "object expected", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec: [1]\n",
			want: `document 1 (Pod "p"): spec: expected object, got array`},
		{name: "bad quantity", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    resources:\n      limits:\n        cpu: lots\n",
			want: `document 1 (Pod "p"): spec.containers[0].resources.limits[cpu]: invalid quantity "lots": use a number with an optional suffix such as "500m", "2", "128Mi" or "1G"`},
		{name: "bad base64", in: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  pw: hunter2!\n",
			want: `document 1 (Secret "s"): data[pw]: expected a base64-encoded string (use stringData for plain text): illegal base64 data at input byte 7`},
		{name: "several problems, several documents", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  nodename: x\n  hostNetwork: \"yes\"\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  port: 80\n",
			want: `document 1 (Pod "a"): spec.hostNetwork: expected boolean, got string "yes"` + "\n" +
				`document 1 (Pod "a"): unknown field "spec.nodename"; did you mean "spec.nodeName"?` + "\n" +
				`document 2 (Service "b"): unknown field "spec.port"; did you mean "spec.ports"?`},
		{name: "malformed YAML line in input", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b: c\n",
			want: `document 2: malformed YAML: line 9: mapping values are not allowed in this context`},
		{name: "duplicate key", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
			want: `document 1: malformed YAML: unmarshal errors: line 5: key "name" already set in map`},
		{name: "malformed JSON", in: "{\"apiVersion\": \"v1\",\n \"kind\": }",
			want: `document 1: malformed JSON: line 2: invalid character '}' looking for beginning of value`},
		{name: "missing apiVersion", in: "kind: Deployment\nmetadata:\n  name: web\n",
			want: `document 1 (Deployment "web"): missing apiVersion; add "apiVersion: apps/v1"`},
		{name: "missing kind", in: "apiVersion: apps/v1\nmetadata:\n  name: web\n",
			want: `document 1 (object "web"): missing kind; add it, e.g. "kind: DaemonSet" (apiVersion apps/v1 serves DaemonSet, Deployment, ReplicaSet, StatefulSet)`},
		{name: "missing both", in: "metadata:\n  name: web\n",
			want: `document 1 (object "web"): missing apiVersion and kind; add them, e.g. "apiVersion: apps/v1" and "kind: Deployment"`},
		{name: "unknown kind", in: "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n",
			want: `document 1 (Ingress "web"): unknown kind "Ingress"; supported kinds: ConfigMap, CronJob, DaemonSet, Deployment, Endpoints, Event, Job, Lease, Namespace, Node, Pod, ReplicaSet, Secret, Service, StatefulSet`},
		{name: "kind in wrong case", in: "apiVersion: apps/v1\nkind: deployment\n",
			want: `document 1 (deployment): unknown kind "deployment"; did you mean "Deployment"?`},
		{name: "removed apps/v1beta1", in: "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata:\n  name: web\n",
			want: `document 1 (Deployment "web"): apps/v1beta1 Deployment is no longer served; use apiVersion: apps/v1`},
		{name: "removed extensions", in: "apiVersion: extensions/v1beta1\nkind: DaemonSet\n",
			want: `document 1 (DaemonSet): extensions/v1beta1 DaemonSet is no longer served; use apiVersion: apps/v1`},
		{name: "removed batch/v1beta1", in: "apiVersion: batch/v1beta1\nkind: CronJob\n",
			want: `document 1 (CronJob): batch/v1beta1 CronJob is no longer served; use apiVersion: batch/v1`},
		{name: "removed lease", in: "apiVersion: coordination.k8s.io/v1beta1\nkind: Lease\n",
			want: `document 1 (Lease): coordination.k8s.io/v1beta1 Lease is no longer served; use apiVersion: coordination.k8s.io/v1`},
		{name: "wrong group", in: "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: web\n",
			want: `document 1 (Deployment "web"): Deployment is not served under apiVersion "v1"; use apiVersion: apps/v1`},
		{name: "not an object", in: "- a\n- b\n",
			want: `document 1: expected an object with apiVersion and kind, got array`},
		{name: "list item", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: ok\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: bad\n  dat: {}\n",
			want: `document 1, item 2 (ConfigMap "bad"): unknown field "dat"; did you mean "data"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error; decoded %d objects", len(objs))
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
			if ReasonOf(err) != ReasonBadRequest {
				t.Errorf("reason = %q, want BadRequest", ReasonOf(err))
			}
		})
	}
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		names []string
	}{
		{name: "empty input", in: ""},
		{name: "only separators and comments", in: "---\n# nothing\n---\n\n"},
		{name: "leading separator", in: "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", names: []string{"a"}},
		{name: "separator with comment", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n--- # next\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n", names: []string{"a", "b"}},
		{name: "JSON object", in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, names: []string{"a"}},
		{name: "JSON stream", in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}} {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`, names: []string{"a", "b"}},
		{name: "JSON array", in: `[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]`, names: []string{"a"}},
		{name: "JSON List", in: `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}]}`, names: []string{"a", "b"}},
		{name: "typed List", in: "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n", names: []string{"a"}},
		{name: "null fields", in: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  creationTimestamp: null\nspec:\n  containers: null\n", names: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.GetObjectMeta().Name)
			}
			check(t, "names", names, tt.names)
		})
	}
}

func TestDecodeInto(t *testing.T) {
	var d Deployment
	if err := DecodeInto([]byte(`{"metadata":{"name":"web"},"spec":{"replicas":2}}`), &d); err != nil {
		t.Fatal(err)
	}
	check(t, "typeMeta set", d.TypeMeta, TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"})
	check(t, "replicas", *d.Spec.Replicas, int32(2))

	var b Binding
	if err := DecodeInto([]byte("apiVersion: v1\nkind: Binding\nmetadata:\n  name: p\ntarget:\n  kind: Node\n  name: n1\n"), &b); err != nil {
		t.Fatal(err)
	}
	check(t, "binding target", b.Target.Name, "n1")

	tests := []struct {
		name, in, want string
		obj            Object
	}{
		{name: "unknown field", obj: &Deployment{}, in: `{"metadata":{"name":"web"},"spec":{"replica":2}}`,
			want: `Deployment "web": unknown field "spec.replica"; did you mean "spec.replicas"?`},
		{name: "kind mismatch", obj: &Deployment{}, in: `{"kind":"Service","metadata":{"name":"web"}}`,
			want: `Deployment "web": kind "Service" does not match the Deployment this endpoint takes`},
		{name: "removed version", obj: &Deployment{}, in: `{"apiVersion":"apps/v1beta2","kind":"Deployment"}`,
			want: `Deployment: apps/v1beta2 Deployment is no longer served; use apiVersion: apps/v1`},
		{name: "wrong version", obj: &Pod{}, in: `{"apiVersion":"apps/v1","kind":"Pod"}`,
			want: `Pod: apiVersion "apps/v1" does not serve Pod; use apiVersion: v1`},
		{name: "two documents", obj: &Pod{}, in: "kind: Pod\n---\nkind: Pod\n", want: `expected one object in the request body, found 2`},
		{name: "empty", obj: &Pod{}, in: "", want: `expected one object in the request body, found 0`},
		{name: "not an object", obj: &Pod{}, in: `"pod"`, want: `expected a JSON object in the request body, got string "pod"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeInto([]byte(tt.in), tt.obj)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
			if ReasonOf(err) != ReasonBadRequest {
				t.Errorf("reason = %q", ReasonOf(err))
			}
		})
	}
}

func TestEncode(t *testing.T) {
	cm := &ConfigMap{ObjectMeta: ObjectMeta{Name: "c", Namespace: "d"}, Data: map[string]string{"k": "v"}}
	js, err := EncodeJSON(cm)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "json", string(js), `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"},"data":{"k":"v"}}`)
	if cm.APIVersion != "" || cm.Kind != "" {
		t.Error("EncodeJSON must not modify its argument")
	}
	y, err := EncodeYAML(cm)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "yaml", string(y), "apiVersion: v1\ndata:\n  k: v\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: d\n")

	wrong := &Scale{TypeMeta: TypeMeta{Kind: "Nope"}, Spec: ScaleSpec{Replicas: 3}}
	js, _ = EncodeJSON(wrong)
	if !strings.HasPrefix(string(js), `{"apiVersion":"autoscaling/v1","kind":"Scale"`) {
		t.Errorf("scale json = %s", js)
	}

	// A round trip keeps int and string ports apart.
	svc := &Service{ObjectMeta: ObjectMeta{Name: "s", Namespace: "d"}, Spec: ServiceSpec{Ports: []ServicePort{{Port: 80, TargetPort: intstr.FromString("80")}, {Name: "b", Port: 81, TargetPort: intstr.FromInt32(8081)}}}}
	y, _ = EncodeYAML(svc)
	objs, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	back := objs[0].(*Service)
	check(t, "string port", back.Spec.Ports[0].TargetPort, intstr.FromString("80"))
	check(t, "int port", back.Spec.Ports[1].TargetPort, intstr.FromInt32(8081))
}
