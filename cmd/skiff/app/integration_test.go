package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

// cli runs skiff commands against one test server.
type cli struct {
	t      *testing.T
	srv    *clienttest.Server
	config string
}

func newCLI(t *testing.T) *cli {
	srv := etcd.NewServer(t)
	path := filepath.Join(t.TempDir(), "config")
	if err := client.WriteConfig(path, srv.Config); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, srv: srv, config: path}
}

// run executes one command line and returns stdout, stderr and exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Run(ctx, append([]string{"--config", c.config}, args...), Streams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("skiff %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs a command that must fail with one line on stderr containing want.
func (c *cli) fails(stdin, want string, args ...string) {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		c.t.Fatalf("skiff %s: exit %d, stderr %q, stdout %q; want exit 1 and one line containing %q", strings.Join(args, " "), code, errOut, out, want)
	}
}

// revisions snapshots every object's resourceVersion, to prove a failed
// command changed nothing.
func (c *cli) revisions() string {
	c.t.Helper()
	var b strings.Builder
	for _, res := range api.Resources() {
		list, err := c.srv.Client.List(context.Background(), res, "", client.ListOptions{})
		if err != nil {
			c.t.Fatal(err)
		}
		for _, o := range list.Items {
			m := o.GetObjectMeta()
			fmt.Fprintf(&b, "%s %s %s\n", res.Plural, m.Key(), m.ResourceVersion)
		}
	}
	return b.String()
}

// The manifest of the Kubernetes docs' "Run a Stateless Application" and
// "Service" pages, in a namespace of its own.
const demoManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  namespace: demo
spec:
  selector:
    matchLabels:
      app: nginx
  replicas: 2 # tells deployment to run 2 pods matching the template
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: demo
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - protocol: TCP
      port: 80
      targetPort: 9376
`

func TestApplyLifecycle(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	// The Service first in the file: apply must still create the namespace first.
	parts := strings.SplitN(demoManifest, "---\n", 2)
	manifest := filepath.Join(dir, "demo.yaml")
	os.WriteFile(manifest, []byte(parts[1]+"---\n"+parts[0]), 0o644)

	got := c.ok("", "apply", "-f", manifest)
	want := "namespace/demo created\ndeployment.apps/nginx-deployment created\nservice/my-service created\n"
	if got != want {
		t.Fatalf("first apply:\n%s\nwant:\n%s", got, want)
	}
	got = c.ok("", "apply", "-f", dir) // a directory, recursively
	if want := "namespace/demo unchanged\ndeployment.apps/nginx-deployment unchanged\nservice/my-service unchanged\n"; got != want {
		t.Fatalf("second apply:\n%s\nwant:\n%s", got, want)
	}

	// A controller sets a field the manifest does not own; apply keeps it.
	c.ok("", "label", "deploy", "nginx-deployment", "-n", "demo", "owner=controller")
	changed := strings.Replace(demoManifest, "replicas: 2", "replicas: 3", 1)
	got = c.ok(changed, "apply", "-f", "-")
	if !strings.Contains(got, "deployment.apps/nginx-deployment configured\n") || !strings.Contains(got, "service/my-service unchanged") {
		t.Fatalf("apply with replicas 3:\n%s", got)
	}
	d, err := client.Get[*api.Deployment](context.Background(), c.srv.Client, "demo", "nginx-deployment")
	if err != nil || *d.Spec.Replicas != 3 || d.Labels["owner"] != "controller" {
		t.Fatalf("after apply: %v replicas=%d labels=%v", err, *d.Spec.Replicas, d.Labels)
	}

	// A field removed from the manifest is removed from the object.
	noPorts := strings.Replace(changed, "        ports:\n        - containerPort: 80\n", "", 1)
	c.ok(noPorts, "apply", "-f", "-")
	d, _ = client.Get[*api.Deployment](context.Background(), c.srv.Client, "demo", "nginx-deployment")
	if ports := d.Spec.Template.Spec.Containers[0].Ports; len(ports) != 0 {
		t.Fatalf("ports removed from the manifest are still there: %+v", ports)
	}

	// get -o yaml output applies back unchanged.
	yamlOut := c.ok("", "get", "deployment/nginx-deployment", "-n", "demo", "-o", "yaml")
	if got := c.ok(yamlOut, "apply", "-f", "-"); got != "deployment.apps/nginx-deployment unchanged\n" {
		t.Fatalf("round trip of get -o yaml: %q", got)
	}
	listOut := c.ok("", "get", "deploy,svc", "-n", "demo", "-o", "yaml")
	if got := c.ok(listOut, "apply", "-f", "-"); got != "deployment.apps/nginx-deployment unchanged\nservice/my-service unchanged\n" {
		t.Fatalf("round trip of a List: %q", got)
	}
}

func TestGetTables(t *testing.T) {
	c := newCLI(t)
	c.ok(demoManifest, "apply", "-f", "-")
	out := c.ok("", "get", "deploy", "-n", "demo")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME READY UP-TO-DATE AVAILABLE AGE" ||
		!strings.HasPrefix(lines[1], "nginx-deployment   0/2 ") {
		t.Fatalf("get deploy:\n%s", out)
	}
	out = c.ok("", "get", "svc,deploy", "-A", "--show-labels")
	if !strings.HasPrefix(out, "NAMESPACE   NAME") || !strings.Contains(out, "80/TCP") || !strings.Contains(out, "\n\nNAMESPACE   NAME") {
		t.Fatalf("get svc,deploy -A:\n%s", out)
	}
	if out := c.ok("", "get", "ns", "--no-headers", "-o", "name"); !strings.Contains(out, "namespace/demo\n") {
		t.Fatalf("get ns -o name:\n%s", out)
	}
	out, errOut, code := c.run("", "get", "pods")
	if code != 0 || out != "" || errOut != "No resources found in default namespace.\n" {
		t.Fatalf("empty get: %d %q %q", code, out, errOut)
	}
	c.fails("", `Error from server (NotFound): deployments.apps "nope" not found`, "get", "deploy", "nope", "-n", "demo")
	c.fails("", `the server doesn't have a resource type "widgets"`, "get", "widgets")
	out = c.ok("", "describe", "deploy/nginx-deployment", "-n", "demo")
	for _, want := range []string{"Name:", "nginx-deployment", "Replicas:", "2 desired", "Events:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}
}

func TestLabelScaleDelete(t *testing.T) {
	c := newCLI(t)
	c.ok(demoManifest, "apply", "-f", "-")
	if got := c.ok("", "label", "deploy/nginx-deployment", "-n", "demo", "tier=web"); got != "deployment.apps/nginx-deployment labeled\n" {
		t.Fatalf("label: %q", got)
	}
	c.fails("", `label "tier" already has a value (web); pass --overwrite`, "label", "deploy", "nginx-deployment", "-n", "demo", "tier=db")
	c.ok("", "label", "deploy", "nginx-deployment", "-n", "demo", "tier=db", "--overwrite")
	if out := c.ok("", "get", "deploy", "-n", "demo", "-l", "tier=db", "-o", "name"); out != "deployment.apps/nginx-deployment\n" {
		t.Fatalf("selected by the new label: %q", out)
	}
	c.ok("", "label", "deploy", "nginx-deployment", "-n", "demo", "tier-")
	if out := c.ok("", "get", "deploy", "-n", "demo", "-l", "tier", "-o", "name"); out != "" {
		t.Fatalf("label not removed: %q", out)
	}

	if got := c.ok("", "scale", "deployment/nginx-deployment", "-n", "demo", "--replicas=5"); got != "deployment.apps/nginx-deployment scaled\n" {
		t.Fatalf("scale: %q", got)
	}
	d, _ := client.Get[*api.Deployment](context.Background(), c.srv.Client, "demo", "nginx-deployment")
	if *d.Spec.Replicas != 5 {
		t.Fatalf("replicas after scale = %d", *d.Spec.Replicas)
	}

	if got := c.ok("", "delete", "deploy", "nginx-deployment", "-n", "demo"); got != "deployment.apps \"nginx-deployment\" deleted\n" {
		t.Fatalf("delete: %q", got)
	}
	c.fails("", `Error from server (NotFound): deployments.apps "nginx-deployment" not found`, "delete", "deploy", "nginx-deployment", "-n", "demo")
	if got := c.ok(demoManifest, "delete", "-f", "-", "--ignore-not-found"); got != "namespace \"demo\" deleted\nservice \"my-service\" deleted\n" {
		t.Fatalf("delete -f: %q", got)
	}
}

func TestCreate(t *testing.T) {
	c := newCLI(t)
	if got := c.ok("", "create", "namespace", "shop"); got != "namespace/shop created\n" {
		t.Fatalf("create namespace: %q", got)
	}
	if got := c.ok("", "create", "deployment", "web", "-n", "shop", "--image=registry.local/team/web:1.2", "--replicas=3", "--port=8080"); got != "deployment.apps/web created\n" {
		t.Fatalf("create deployment: %q", got)
	}
	d, err := client.Get[*api.Deployment](context.Background(), c.srv.Client, "shop", "web")
	if err != nil || *d.Spec.Replicas != 3 || d.Spec.Selector.MatchLabels["app"] != "web" ||
		d.Spec.Template.Spec.Containers[0].Name != "web" || d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 8080 {
		t.Fatalf("created deployment: %v %+v", err, d)
	}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"
	if got := c.ok(cm, "create", "-f", "-"); got != "configmap/settings created\n" {
		t.Fatalf("create -f: %q", got)
	}
	c.fails(cm, `Error from server (AlreadyExists): configmaps "settings" already exists`, "create", "-f", "-")
	c.fails("", `namespaces "shop" already exists`, "create", "namespace", "shop")
}

func TestBadInputChangesNothing(t *testing.T) {
	c := newCLI(t)
	c.ok(demoManifest, "apply", "-f", "-")
	before := c.revisions()
	cases := map[string]struct{ manifest, want string }{
		"malformed yaml": {demoManifest + "---\nkind: ConfigMap\nmetadata: [unclosed\n", "<stdin>:"},
		"unknown field":  {strings.Replace(demoManifest, "replicas: 2", "replicas: 2\n  replica: 3", 1), "replica"},
		"missing name":   {demoManifest + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: demo\ndata:\n  a: b\n", "metadata.name"},
		"unknown kind":   {demoManifest + "---\napiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n", "Widget"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c.t = t
			c.fails(tc.manifest, tc.want, "apply", "-f", "-")
			if after := c.revisions(); after != before {
				t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestEdit(t *testing.T) {
	c := newCLI(t)
	c.ok(demoManifest, "apply", "-f", "-")
	dir := t.TempDir()
	editor := func(name, script string) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755)
		return path
	}
	t.Setenv("EDITOR", editor("noop", "true"))
	if got := c.ok("", "edit", "deploy/nginx-deployment", "-n", "demo"); got != "Edit cancelled, no changes made.\n" {
		t.Fatalf("unchanged edit: %q", got)
	}
	t.Setenv("EDITOR", editor("bad", `sed -i 's/  replicas: 2/  replicas: 2\n  replica: 9/' "$1"`))
	before := c.revisions()
	c.fails("", "your changes are in ", "edit", "deploy/nginx-deployment", "-n", "demo")
	if c.revisions() != before {
		t.Fatal("an invalid edit changed the store")
	}
	t.Setenv("EDITOR", editor("good", `sed -i 's/  replicas: 2/  replicas: 4/' "$1"`))
	if got := c.ok("", "edit", "deployment", "nginx-deployment", "-n", "demo"); got != "deployment.apps/nginx-deployment edited\n" {
		t.Fatalf("edit: %q", got)
	}
	d, _ := client.Get[*api.Deployment](context.Background(), c.srv.Client, "demo", "nginx-deployment")
	if *d.Spec.Replicas != 4 {
		t.Fatalf("replicas after edit = %d, want 4", *d.Spec.Replicas)
	}
}
