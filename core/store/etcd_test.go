package store

import (
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

func TestCreateGetUpdateDelete(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	in := configMap("default", "web", map[string]string{"app": "web"}, map[string]string{"k": "v1"})
	in.ResourceVersion = "999" // ignored by Create
	before := time.Now().UTC().Truncate(time.Second)

	created := mustCreate(t, ctx, s, in).(*api.ConfigMap)
	if in.UID != "" || in.ResourceVersion != "999" {
		t.Errorf("Create changed the caller's object: uid %q resourceVersion %q", in.UID, in.ResourceVersion)
	}
	if created.UID == "" || created.Generation != 1 || created.ResourceVersion == "" || created.ResourceVersion == "999" {
		t.Errorf("created metadata: uid %q generation %d resourceVersion %q", created.UID, created.Generation, created.ResourceVersion)
	}
	if ts := created.CreationTimestamp; ts.Before(before) || ts.Nanosecond() != 0 || ts.Location() != time.UTC {
		t.Errorf("creationTimestamp %v: want UTC, whole seconds, not before %v", ts, before)
	}
	if created.Kind != "ConfigMap" || created.APIVersion != "v1" {
		t.Errorf("type meta %+v", created.TypeMeta)
	}
	if cur, err := s.Revision(ctx); err != nil || cur < rv(t, created) {
		t.Errorf("revision %d (%v), want at least the create's %s", cur, err, created.ResourceVersion)
	}

	got, err := s.Get(ctx, cms, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(*api.ConfigMap); g.UID != created.UID || g.ResourceVersion != created.ResourceVersion || g.Data["k"] != "v1" {
		t.Errorf("get returned %+v, want the created object", g)
	}

	upd := api.DeepCopy(created)
	upd.Data["k"] = "v2"
	upd.UID = ""                        // kept from the stored object
	upd.CreationTimestamp = time.Time{} // idem
	updated, err := s.Update(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	u := updated.(*api.ConfigMap)
	if u.UID != created.UID || !u.CreationTimestamp.Equal(created.CreationTimestamp) || u.Data["k"] != "v2" {
		t.Errorf("updated %+v: want uid and creationTimestamp kept, data changed", u.ObjectMeta)
	}
	if rv(t, u) <= rv(t, created) {
		t.Errorf("resourceVersion went from %s to %s", created.ResourceVersion, u.ResourceVersion)
	}

	deleted, err := s.Delete(ctx, cms, "default", "web", DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := deleted.(*api.ConfigMap); d.Data["k"] != "v2" || rv(t, d) <= rv(t, u) {
		t.Errorf("delete returned %+v rv %s, want the last state at the deletion's revision", d.Data, d.ResourceVersion)
	}
	if _, err := s.Get(ctx, cms, "default", "web"); !api.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

func rv(t testing.TB, obj api.Object) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.GetObjectMeta().ResourceVersion, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", obj.GetObjectMeta().ResourceVersion, err)
	}
	return n
}

func TestErrors(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	mustCreate(t, ctx, s, configMap("default", "a", nil, nil))

	if _, err := s.Create(ctx, configMap("default", "a", nil, nil)); !api.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	if _, err := s.Get(ctx, cms, "default", "missing"); !api.IsNotFound(err) {
		t.Errorf("get missing: %v, want NotFound", err)
	}
	if _, err := s.Update(ctx, configMap("default", "missing", nil, nil)); !api.IsNotFound(err) {
		t.Errorf("update missing: %v, want NotFound", err)
	}
	if _, err := s.Delete(ctx, cms, "default", "missing", DeleteOptions{}); !api.IsNotFound(err) {
		t.Errorf("delete missing: %v, want NotFound", err)
	}
	mutate := func(api.Object) error { return nil }
	if _, err := s.GuaranteedUpdate(ctx, cms, "default", "missing", mutate); !api.IsNotFound(err) {
		t.Errorf("guaranteed update of missing: %v, want NotFound", err)
	}
	for _, bad := range []*api.ConfigMap{
		configMap("default", "", nil, nil),
		configMap("", "no-namespace", nil, nil),
		configMap("default", "a/b", nil, nil),
		configMap("..", "x", nil, nil),
	} {
		if _, err := s.Create(ctx, bad); !api.IsInvalid(err) {
			t.Errorf("create %q/%q: %v, want Invalid", bad.Namespace, bad.Name, err)
		}
	}
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "default"}}
	if _, err := s.Create(ctx, ns); !api.IsInvalid(err) {
		t.Errorf("create a cluster-scoped object with a namespace: %v, want Invalid", err)
	}
	stale := configMap("default", "a", nil, nil)
	stale.ResourceVersion = "1"
	if _, err := s.Update(ctx, stale); !api.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want Conflict", err)
	}
	if _, err := s.Delete(ctx, cms, "default", "a", DeleteOptions{ResourceVersion: "1"}); !api.IsConflict(err) {
		t.Errorf("delete with a stale resourceVersion: %v, want Conflict", err)
	}
	if _, err := s.Delete(ctx, cms, "default", "a", DeleteOptions{UID: "other"}); !api.IsConflict(err) {
		t.Errorf("delete with another uid: %v, want Conflict", err)
	}
	if _, err := s.Get(ctx, cms, "default", "a"); err != nil {
		t.Errorf("failed deletes removed the object: %v", err)
	}
}

func TestClusterScoped(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	nsRes := resource(t, "Namespace")
	mustCreate(t, ctx, s, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a"}})
	got, err := s.Get(ctx, nsRes, "", "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetObjectMeta().Name != "team-a" || got.GetObjectMeta().Namespace != "" {
		t.Errorf("got %s", got.GetObjectMeta().Key())
	}
	list, err := s.List(ctx, nsRes, "", ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list namespaces: %v, %d items", err, len(list.Items))
	}
	if _, err := s.List(ctx, nsRes, "team-a", ListOptions{}); err == nil {
		t.Error("listing a cluster-scoped resource in a namespace succeeded")
	}
}

func TestConcurrentUpdatesOneWins(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	base := mustCreate(t, ctx, s, configMap("default", "race", nil, map[string]string{"n": "0"})).(*api.ConfigMap)

	const writers = 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			cm := api.DeepCopy(base) // same resourceVersion for all
			cm.Data["n"] = strconv.Itoa(i + 1)
			_, errs[i] = s.Update(ctx, cm)
		})
	}
	wg.Wait()
	wins, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case api.IsConflict(err):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != writers-1 {
		t.Errorf("%d wins and %d conflicts, want 1 and %d", wins, conflicts, writers-1)
	}
}

func TestGuaranteedUpdateUnderContention(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	mustCreate(t, ctx, s, configMap("default", "counter", nil, map[string]string{}))

	const writers = 20
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := s.GuaranteedUpdate(ctx, cms, "default", "counter", func(obj api.Object) error {
				cm := obj.(*api.ConfigMap)
				if cm.Data == nil {
					cm.Data = map[string]string{}
				}
				cm.Data[strconv.Itoa(i)] = "done"
				return nil
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := s.Get(ctx, cms, "default", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if data := got.(*api.ConfigMap).Data; len(data) != writers {
		t.Errorf("%d of %d mutations applied: %v", len(data), writers, data)
	}
}

func TestGenerationBumpsOnSpecOnly(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	deploys := resource(t, "Deployment")
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"}}
	d.Spec.Replicas = new(int32(1))
	mustCreate(t, ctx, s, d)

	step := func(what string, mutate func(*api.Deployment), wantGen int64) api.Object {
		t.Helper()
		out, err := s.GuaranteedUpdate(ctx, deploys, "default", "web", func(obj api.Object) error {
			mutate(obj.(*api.Deployment))
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if g := out.GetObjectMeta().Generation; g != wantGen {
			t.Errorf("%s: generation %d, want %d", what, g, wantGen)
		}
		return out
	}
	step("status change", func(d *api.Deployment) { d.Status.Replicas = 1 }, 1)
	step("label change", func(d *api.Deployment) { d.Labels = map[string]string{"a": "b"} }, 1)
	step("spec change", func(d *api.Deployment) { d.Spec.Replicas = new(int32(3)) }, 2)
	before := step("another spec change", func(d *api.Deployment) { d.Spec.Paused = true }, 3)
	after := step("no change", func(*api.Deployment) {}, 3)
	if after.GetObjectMeta().ResourceVersion != before.GetObjectMeta().ResourceVersion {
		t.Errorf("a no-op update wrote: resourceVersion %s -> %s", before.GetObjectMeta().ResourceVersion, after.GetObjectMeta().ResourceVersion)
	}
}

func TestFinalizers(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	cm := configMap("default", "guarded", nil, map[string]string{"k": "v"})
	cm.Finalizers = []string{"skiff.sh/cleanup"}
	created := mustCreate(t, ctx, s, cm)

	grace := int64(30)
	marked, err := s.Delete(ctx, cms, "default", "guarded", DeleteOptions{GracePeriodSeconds: &grace, AddFinalizers: []string{"foregroundDeletion"}})
	if err != nil {
		t.Fatal(err)
	}
	m := marked.GetObjectMeta()
	if m.DeletionTimestamp == nil || m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("after delete: deletionTimestamp %v grace %v, want both set", m.DeletionTimestamp, m.DeletionGracePeriodSeconds)
	}
	if len(m.Finalizers) != 2 || m.Finalizers[1] != "foregroundDeletion" || m.Generation != created.GetObjectMeta().Generation+1 {
		t.Errorf("after delete: finalizers %v generation %d", m.Finalizers, m.Generation)
	}
	again, err := s.Delete(ctx, cms, "default", "guarded", DeleteOptions{AddFinalizers: []string{"foregroundDeletion"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetObjectMeta().ResourceVersion != m.ResourceVersion || !again.GetObjectMeta().DeletionTimestamp.Equal(*m.DeletionTimestamp) {
		t.Errorf("a repeated delete rewrote the object")
	}

	// An update cannot clear the deletion mark.
	upd := api.DeepCopy(marked)
	upd.GetObjectMeta().DeletionTimestamp = nil
	upd.GetObjectMeta().Finalizers = []string{"foregroundDeletion"}
	kept, err := s.Update(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if kept.GetObjectMeta().DeletionTimestamp == nil {
		t.Error("update cleared deletionTimestamp")
	}

	// Removing the last finalizer deletes it; the result is the final state.
	final, err := s.GuaranteedUpdate(ctx, cms, "default", "guarded", func(obj api.Object) error {
		obj.GetObjectMeta().Finalizers = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(final.GetObjectMeta().Finalizers) != 0 || final.(*api.ConfigMap).Data["k"] != "v" {
		t.Errorf("final state %+v", final)
	}
	if _, err := s.Get(ctx, cms, "default", "guarded"); !api.IsNotFound(err) {
		t.Errorf("get after the last finalizer went: %v, want NotFound", err)
	}
}

func TestUpdateRejectsRecreatedObject(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	old := mustCreate(t, ctx, s, configMap("default", "x", nil, nil))
	if _, err := s.Delete(ctx, cms, "default", "x", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ctx, s, configMap("default", "x", nil, nil))
	stale := api.DeepCopy(old)
	stale.GetObjectMeta().ResourceVersion = ""
	if _, err := s.Update(ctx, stale); !api.IsConflict(err) {
		t.Errorf("update carrying the old uid: %v, want Conflict", err)
	}
}

func TestGuaranteedUpdateKeepsIdentity(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	mustCreate(t, ctx, s, configMap("default", "x", map[string]string{"a": "1"}, nil))
	_, err := s.GuaranteedUpdate(ctx, cms, "default", "x", func(obj api.Object) error {
		obj.GetObjectMeta().Name = "y"
		return nil
	})
	if api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("renaming in mutate: %v, want BadRequest", err)
	}
	got, err := s.Get(ctx, cms, "default", "x")
	if err != nil || !maps.Equal(got.GetObjectMeta().Labels, map[string]string{"a": "1"}) {
		t.Errorf("object after a refused mutate: %v %v", got, err)
	}
}

// The API server draws a uid before defaulting (a Job's selector is derived
// from it), so Create must keep a uid it is given.
func TestCreateKeepsGivenUID(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	in := configMap("default", "given-uid", nil, nil)
	in.UID = "5f0c1a52-0000-4000-8000-000000000001"
	created := mustCreate(t, ctx, s, in)
	if got := created.GetObjectMeta().UID; got != in.UID {
		t.Fatalf("uid %q, want the given %q", got, in.UID)
	}
}
