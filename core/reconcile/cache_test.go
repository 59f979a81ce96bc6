package reconcile

import (
	"sort"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func testPod(ns, name, uid, node, ownerUID string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, UID: uid, ResourceVersion: "1"}}
	p.Spec.NodeName = node
	if ownerUID != "" {
		p.OwnerReferences = []api.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: ownerUID, Controller: api.BoolPtr(true)}}
	}
	return p
}

func names(objs []api.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetObjectMeta().Name
	}
	sort.Strings(out)
	return out
}

func TestCacheIndexesFollowUpdatesAndDeletes(t *testing.T) {
	c := NewCache(DefaultIndexers(client.ResourceOf[*api.Pod]()))
	c.Upsert(testPod("a", "p1", "u1", "n1", "rs1"))
	c.Upsert(testPod("a", "p2", "u2", "", "rs1"))
	c.Upsert(testPod("b", "p3", "u3", "n1", ""))

	check := func(index, value string, want ...string) {
		t.Helper()
		got, err := c.ByIndex(index, value)
		if err != nil {
			t.Fatal(err)
		}
		if g := names(got); len(g) != len(want) || (len(want) > 0 && !equal(g, want)) {
			t.Fatalf("ByIndex(%s, %q) = %v, want %v", index, value, g, want)
		}
	}
	check(IndexNamespace, "a", "p1", "p2")
	check(IndexNodeName, "n1", "p1", "p3")
	check(IndexNodeName, "", "p2")
	check(IndexController, "rs1", "p1", "p2")
	check(IndexOwner, "rs1", "p1", "p2")
	check(IndexUID, "u3", "p3")
	check(IndexOrphan, "b", "p3")
	check(IndexOrphan, "a")

	// p2 gets scheduled and released by its owner: both indexes move.
	c.Upsert(testPod("a", "p2", "u2", "n2", ""))
	check(IndexNodeName, "")
	check(IndexNodeName, "n2", "p2")
	check(IndexController, "rs1", "p1")
	check(IndexOrphan, "a", "p2")

	if _, ok := c.Delete("a/p1"); !ok {
		t.Fatal("Delete of a stored key reported missing")
	}
	check(IndexController, "rs1")
	check(IndexNamespace, "a", "p2")
	if _, ok := c.Get("a/p1"); ok {
		t.Fatal("deleted object still readable")
	}
	if _, err := c.ByIndex("nope", "x"); err == nil {
		t.Fatal("unknown index must be an error")
	}
}

func TestCacheAddIndexerIndexesExistingObjects(t *testing.T) {
	c := NewCache(nil)
	c.Upsert(testPod("a", "p1", "u1", "n1", ""))
	if err := c.AddIndexer("name", func(o api.Object) []string { return []string{o.GetObjectMeta().Name} }); err != nil {
		t.Fatal(err)
	}
	got, _ := c.ByIndex("name", "p1")
	if len(got) != 1 {
		t.Fatalf("existing object not indexed by a new indexer: %v", names(got))
	}
	if err := c.AddIndexer("name", nil); err == nil {
		t.Fatal("duplicate index name must be an error")
	}
}

type recordingHandler struct{ log []string }

func (r *recordingHandler) OnAdd(o api.Object) { r.log = append(r.log, "add "+o.GetObjectMeta().Name) }
func (r *recordingHandler) OnUpdate(_, o api.Object) {
	r.log = append(r.log, "update "+o.GetObjectMeta().Name)
}
func (r *recordingHandler) OnDelete(o api.Object) {
	r.log = append(r.log, "delete "+o.GetObjectMeta().Name)
}

func TestInformerResyncReportsMissedDeletes(t *testing.T) {
	inf := NewInformer(nil, client.ResourceOf[*api.Pod](), nil)
	h := &recordingHandler{}
	inf.AddHandler(h)
	if inf.HasSynced() {
		t.Fatal("synced before the first list")
	}
	inf.OnSync([]api.Object{testPod("a", "p1", "u1", "", ""), testPod("a", "p2", "u2", "", "")})
	if !inf.HasSynced() {
		t.Fatal("not synced after the first list")
	}
	inf.OnEvent(client.Modified, testPod("a", "p1", "u1", "n1", ""))
	// A re-list after a broken watch: p2 vanished, p3 appeared, p1 was
	// re-created under the same name (new UID).
	inf.OnSync([]api.Object{testPod("a", "p1", "u9", "", ""), testPod("a", "p3", "u3", "", "")})
	inf.OnEvent(client.Deleted, testPod("a", "p3", "u3", "", ""))
	inf.OnEvent(client.Deleted, testPod("a", "gone", "u4", "", "")) // unknown: no event

	want := []string{"add p1", "add p2", "update p1", "delete p1", "add p1", "add p3", "delete p2", "delete p3"}
	if got := h.log; !equal(got, want) {
		t.Fatalf("handler saw %v\nwant %v", h.log, want)
	}

	late := &recordingHandler{}
	inf.AddHandler(late)
	if !equal(late.log, []string{"add p1"}) {
		t.Fatalf("a late handler must get the cache replayed as adds, got %v", late.log)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
