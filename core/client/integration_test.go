package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func deployment(name string, replicas int32) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: api.DeploymentSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "web", Image: "nginx:1.25"}}},
			},
		},
	}
}

func TestTypedCRUDAgainstRealServer(t *testing.T) {
	ctx, c := testCtx(t), etcd.NewServer(t).Client

	created, err := client.Create(ctx, c, deployment("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.Kind != "Deployment" {
		t.Fatalf("created = %+v, want server-set uid, resourceVersion and kind", created.ObjectMeta)
	}
	if _, err := client.Create(ctx, c, deployment("web", 2)); !api.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}

	got, err := client.Get[*api.Deployment](ctx, c, "default", "web")
	if err != nil || *got.Spec.Replicas != 2 {
		t.Fatalf("get: %v %+v", err, got)
	}
	got.Spec.Replicas = api.Int32Ptr(4)
	updated, err := client.Update(ctx, c, got)
	if err != nil || *updated.Spec.Replicas != 4 {
		t.Fatalf("update: %v", err)
	}
	// The old resourceVersion is stale now: optimistic concurrency.
	if _, err := client.Update(ctx, c, got); !api.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}

	patched, err := client.Patch[*api.Deployment](ctx, c, "default", "web", []byte(`{"metadata":{"labels":{"tier":"front"}}}`))
	if err != nil || patched.Labels["tier"] != "front" || *patched.Spec.Replicas != 4 {
		t.Fatalf("patch: %v %+v", err, patched)
	}

	scale, err := c.GetScale(ctx, client.ResourceOf[*api.Deployment](), "default", "web")
	if err != nil || scale.Spec.Replicas != 4 {
		t.Fatalf("get scale: %v %+v", err, scale)
	}
	scale.Spec.Replicas = 1
	if _, err := c.UpdateScale(ctx, client.ResourceOf[*api.Deployment](), "default", "web", scale); err != nil {
		t.Fatal(err)
	}
	if d, _ := client.Get[*api.Deployment](ctx, c, "default", "web"); *d.Spec.Replicas != 1 {
		t.Fatalf("replicas after scale = %d, want 1", *d.Spec.Replicas)
	}

	wrongUID := "not-the-uid"
	err = client.Delete[*api.Deployment](ctx, c, "default", "web", client.DeleteOptions{Preconditions: &client.Preconditions{UID: &wrongUID}})
	if !api.IsConflict(err) {
		t.Fatalf("delete with a wrong uid precondition: %v, want Conflict", err)
	}
	if err := client.Delete[*api.Deployment](ctx, c, "default", "web", client.DeleteOptions{PropagationPolicy: client.PropagationBackground}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Get[*api.Deployment](ctx, c, "default", "web")
	if !api.IsNotFound(err) || err.Error() != `deployments.apps "web" not found` {
		t.Fatalf("get after delete: %v, want NotFound", err)
	}
}

func TestListSelectorsAndPages(t *testing.T) {
	ctx, c := testCtx(t), etcd.NewServer(t).Client
	for i := range 5 {
		cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: "default",
			Labels: map[string]string{"parity": []string{"even", "odd"}[i%2]}}}
		if _, err := client.Create(ctx, c, cm); err != nil {
			t.Fatal(err)
		}
	}
	odd, err := client.List[*api.ConfigMap](ctx, c, "default", client.ListOptions{LabelSelector: "parity=odd"})
	if err != nil || len(odd.Items) != 2 {
		t.Fatalf("label selector: %v, %d items, want 2", err, len(odd.Items))
	}
	byName, err := client.List[*api.ConfigMap](ctx, c, "default", client.ListOptions{FieldSelector: "metadata.name=cm-3"})
	if err != nil || len(byName.Items) != 1 || byName.Items[0].Name != "cm-3" {
		t.Fatalf("field selector: %v %+v", err, byName)
	}
	var names []string
	opts := client.ListOptions{Limit: 2}
	for pages := 0; ; pages++ {
		page, err := c.List(ctx, client.ResourceOf[*api.ConfigMap](), "default", opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 2 {
			t.Fatalf("page of %d items with limit 2", len(page.Items))
		}
		for _, o := range page.Items {
			names = append(names, o.GetObjectMeta().Name)
		}
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	if fmt.Sprint(names) != "[cm-0 cm-1 cm-2 cm-3 cm-4]" {
		t.Fatalf("paged names = %v", names)
	}
}

func TestBindAndStatus(t *testing.T) {
	ctx, c := testCtx(t), etcd.NewServer(t).Client
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := client.Create(ctx, c, pod); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "default", "p", "node-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "default", "p", "node-2"); !api.IsConflict(err) {
		t.Fatalf("second bind: %v, want Conflict", err)
	}
	got, err := client.Get[*api.Pod](ctx, c, "default", "p")
	if err != nil || got.Spec.NodeName != "node-1" {
		t.Fatalf("after bind: %v, nodeName %q", err, got.Spec.NodeName)
	}
	got.Status.Phase = "Running"
	got.Status.PodIP = "10.1.0.9"
	if _, err := client.UpdateStatus(ctx, c, got); err != nil {
		t.Fatal(err)
	}
	got, _ = client.Get[*api.Pod](ctx, c, "default", "p")
	if got.Status.PodIP != "10.1.0.9" {
		t.Fatalf("status not stored: %+v", got.Status)
	}
}

func TestWatchSeesChangesFromListRevision(t *testing.T) {
	ctx, c := testCtx(t), etcd.NewServer(t).Client
	res := client.ResourceOf[*api.ConfigMap]()
	list, err := c.List(ctx, res, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, res, "default", client.WatchOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cm, err := client.Create(ctx, c, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "w", Namespace: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"k": "v"}
	if _, err := client.Update(ctx, c, cm); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete[*api.ConfigMap](ctx, c, "default", "w", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for len(seen) < 3 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed early: %v (saw %v)", w.Err(), seen)
			}
			if ev.Type == client.Bookmark {
				continue
			}
			seen = append(seen, string(ev.Type)+":"+ev.Object.(*api.ConfigMap).Data["k"])
		case <-ctx.Done():
			t.Fatalf("saw only %v", seen)
		}
	}
	if fmt.Sprint(seen) != "[ADDED: MODIFIED:v DELETED:v]" {
		t.Fatalf("events = %v", seen)
	}
}

// syncRecorder collects what a ListWatch reports.
type syncRecorder struct {
	mu     sync.Mutex
	syncs  int
	names  map[string]bool
	change chan struct{}
}

func (r *syncRecorder) OnSync(items []api.Object) {
	r.mu.Lock()
	r.syncs++
	r.names = map[string]bool{}
	for _, o := range items {
		r.names[o.GetObjectMeta().Name] = true
	}
	r.mu.Unlock()
	r.change <- struct{}{}
}

func (r *syncRecorder) OnEvent(typ client.EventType, obj api.Object) {
	r.mu.Lock()
	if typ == client.Deleted {
		delete(r.names, obj.GetObjectMeta().Name)
	} else {
		r.names[obj.GetObjectMeta().Name] = true
	}
	r.mu.Unlock()
	r.change <- struct{}{}
}

func (r *syncRecorder) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		got := fmt.Sprint(r.names)
		r.mu.Unlock()
		if got == want {
			return
		}
		select {
		case <-r.change:
		case <-deadline:
			t.Fatalf("ListWatch state = %s, want %s", got, want)
		}
	}
}

func TestListWatchAgainstRealServer(t *testing.T) {
	ctx, c := testCtx(t), etcd.NewServer(t).Client
	if _, err := client.Create(ctx, c, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "before", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	rec := &syncRecorder{change: make(chan struct{}, 100)}
	lw := client.NewListWatch(c, client.ResourceOf[*api.ConfigMap](), "default", client.ListWatchOptions{PageSize: 1}, rec)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- lw.Run(runCtx) }()
	rec.waitFor(t, "map[before:true]")
	if _, err := client.Create(ctx, c, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "after", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	if err := client.Delete[*api.ConfigMap](ctx, c, "default", "before", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "map[after:true]")
	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if rec.syncs != 1 {
		t.Fatalf("%d syncs, want exactly one list", rec.syncs)
	}
}
