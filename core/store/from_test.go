package store

import (
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

// Updates from a copy the caller holds must come out as if the store had
// read the object itself, however old the copy.
func TestUpdateFromACopy(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	from := s.(UpdaterFrom)
	deploys := resource(t, "Deployment")
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"}}
	d.Spec.Replicas = new(int32(1))
	created := mustCreate(t, ctx, s, d).(*api.Deployment)

	// From a current copy: a spec change bumps generation as Update does.
	upd := api.DeepCopy(created)
	upd.Spec.Replicas = new(int32(2))
	fresh, err := from.UpdateFrom(ctx, upd, created)
	if err != nil {
		t.Fatal(err)
	}
	if g := fresh.GetObjectMeta().Generation; g != 2 || rv(t, fresh) <= rv(t, created) {
		t.Fatalf("update from a current copy: generation %d, resourceVersion %s -> %s", g, created.ResourceVersion, fresh.GetObjectMeta().ResourceVersion)
	}
	stale := created // now one write behind

	// Pinned to the stale revision: Conflict, as Update gives.
	pinned := api.DeepCopy(stale)
	pinned.Labels = map[string]string{"x": "y"}
	if _, err := from.UpdateFrom(ctx, pinned, stale); !api.IsConflict(err) {
		t.Fatalf("pinned to a stale revision: %v, want Conflict", err)
	}

	// Equal to the stale copy, so a no-op by the copy, but not by the store:
	// it must be written.
	back := api.DeepCopy(stale)
	back.ResourceVersion = ""
	out, err := from.UpdateFrom(ctx, back, stale)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, deploys, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if r := *got.(*api.Deployment).Spec.Replicas; r != 1 || out.GetObjectMeta().ResourceVersion != got.GetObjectMeta().ResourceVersion {
		t.Fatalf("update back to the stale copy's state: stored replicas %d (want 1), returned revision %s, stored %s",
			r, out.GetObjectMeta().ResourceVersion, got.GetObjectMeta().ResourceVersion)
	}
	// A true no-op from a current copy writes nothing.
	again, err := from.UpdateFrom(ctx, api.DeepCopy(got), got)
	if err != nil || again.GetObjectMeta().ResourceVersion != got.GetObjectMeta().ResourceVersion {
		t.Fatalf("no-op update from a current copy: %v, revision %s -> %s", err, got.GetObjectMeta().ResourceVersion, again.GetObjectMeta().ResourceVersion)
	}

	// GuaranteedUpdateFrom a stale copy: the retry sees the stored state.
	var seen []int32
	out, err = from.GuaranteedUpdateFrom(ctx, stale, func(o api.Object) error {
		dep := o.(*api.Deployment)
		seen = append(seen, dep.Status.Replicas)
		dep.Status.Replicas = 10 + *dep.Spec.Replicas
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := out.(*api.Deployment).Status.Replicas; r != 11 || len(seen) != 2 {
		t.Fatalf("guaranteed update from a stale copy: status.replicas %d after attempts seeing %v; want 11 after a retry", r, seen)
	}
	if stale.Status.Replicas != 0 || stale.ResourceVersion != created.ResourceVersion {
		t.Fatal("the caller's copy was changed")
	}
}
