package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestListNamespaceIsolation(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	mustCreate(t, ctx, s, configMap("a", "one", nil, nil))
	mustCreate(t, ctx, s, configMap("ab", "two", nil, nil))
	mustCreate(t, ctx, s, configMap("b", "three", nil, nil))
	// Another resource whose plural starts like this one's must not leak in.
	mustCreate(t, ctx, s, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "a", Name: "s"}})

	for ns, want := range map[string][]string{
		"a":  {"a/one"},
		"ab": {"ab/two"},
		"":   {"a/one", "ab/two", "b/three"},
	} {
		list, err := s.List(ctx, cms, ns, ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(list.Items); !slices.Equal(got, want) {
			t.Errorf("list in namespace %q: %v, want %v", ns, got, want)
		}
	}
}

func TestListFilters(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	var odd []string
	for i := range 30 {
		tier := map[bool]string{true: "odd", false: "even"}[i%2 == 1]
		name := fmt.Sprintf("cm-%02d", i)
		mustCreate(t, ctx, s, configMap("default", name, map[string]string{"tier": tier}, map[string]string{"i": fmt.Sprint(i)}))
		if tier == "odd" {
			odd = append(odd, "default/"+name)
		}
	}

	// Limit counts matching items, so each page is full until the last.
	var got []string
	opts := ListOptions{LabelSelector: api.SelectorFromSet(map[string]string{"tier": "odd"}), Limit: 4}
	for page := 0; ; page++ {
		list, err := s.List(ctx, cms, "default", opts)
		if err != nil {
			t.Fatal(err)
		}
		if list.Continue != "" && len(list.Items) != 4 {
			t.Errorf("page %d has %d items, want 4", page, len(list.Items))
		}
		got = append(got, names(list.Items)...)
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if !slices.Equal(got, odd) {
		t.Errorf("selected %v, want %v", got, odd)
	}

	fieldFiltered, err := s.List(ctx, cms, "default", ListOptions{
		LabelSelector: api.SelectorFromSet(map[string]string{"tier": "even"}),
		FieldFilter:   func(obj api.Object) bool { return obj.(*api.ConfigMap).Data["i"] < "2" },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Even i whose decimal form sorts before "2": 0, 10, 12, 14, 16, 18.
	want := []string{"default/cm-00", "default/cm-10", "default/cm-12", "default/cm-14", "default/cm-16", "default/cm-18"}
	if got := names(fieldFiltered.Items); !slices.Equal(got, want) {
		t.Errorf("label and field filter: %v, want %v", got, want)
	}
}

func TestListPaginationIsASnapshot(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	var want []string
	for i := range 50 {
		name := fmt.Sprintf("cm-%02d", i*2) // even numbers, so odd ones fall between
		mustCreate(t, ctx, s, configMap("default", name, nil, map[string]string{"v": "0"}))
		want = append(want, "default/"+name)
	}

	seen := map[string]int{}
	var got []string
	opts := ListOptions{Limit: 7}
	var revision int64
	for page := 0; ; page++ {
		list, err := s.List(ctx, cms, "default", opts)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if page == 0 {
			revision = list.Revision
			if list.Remaining != 43 {
				t.Errorf("first page: remaining %d, want 43", list.Remaining)
			}
		} else if list.Revision != revision {
			t.Errorf("page %d at revision %d, want the first page's %d", page, list.Revision, revision)
		}
		for _, obj := range list.Items {
			key := obj.GetObjectMeta().Key()
			seen[key]++
			got = append(got, key)
			if v := obj.(*api.ConfigMap).Data["v"]; v != "0" {
				t.Errorf("%s has v=%s: a later write leaked into the snapshot", key, v)
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
		// Writes between pages: new names before and after the cursor,
		// updates and deletes of items still to come.
		mustCreate(t, ctx, s, configMap("default", fmt.Sprintf("cm-%02d", page*14+1), nil, nil))
		mustCreate(t, ctx, s, configMap("default", fmt.Sprintf("cm-%02d", 99-page*2), nil, nil))
		next := fmt.Sprintf("cm-%02d", (page+1)*14+2)
		if _, err := s.GuaranteedUpdate(ctx, cms, "default", next, func(obj api.Object) error {
			obj.(*api.ConfigMap).Data["v"] = "1"
			return nil
		}); err != nil && !api.IsNotFound(err) {
			t.Fatal(err)
		}
		if _, err := s.Delete(ctx, cms, "default", fmt.Sprintf("cm-%02d", (page+1)*14+4), DeleteOptions{}); err != nil && !api.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged list returned %v, want %v", got, want)
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("%s returned %d times", key, n)
		}
	}
}

func TestListContinueErrors(t *testing.T) {
	ctx, s := testContext(t), newStore(t)
	cms := resource(t, "ConfigMap")
	for i := range 5 {
		mustCreate(t, ctx, s, configMap("a", fmt.Sprintf("cm-%d", i), nil, nil))
	}
	first, err := s.List(ctx, cms, "a", ListOptions{Limit: 2})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %v, continue %q", err, first.Continue)
	}

	if _, err := s.List(ctx, cms, "a", ListOptions{Limit: -1}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("negative limit: %v, want BadRequest", err)
	}
	if _, err := s.List(ctx, cms, "a", ListOptions{Limit: 2, Continue: "not-a-token"}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("garbage token: %v, want BadRequest", err)
	}
	if _, err := s.List(ctx, cms, "b", ListOptions{Limit: 2, Continue: first.Continue}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("token of namespace a used in namespace b: %v, want BadRequest", err)
	}

	// The object written after the first page makes the compaction reach past
	// the token's revision.
	mustCreate(t, ctx, s, configMap("a", "late", nil, nil))
	compact(t, ctx)
	_, err = s.List(ctx, cms, "a", ListOptions{Limit: 2, Continue: first.Continue})
	if !api.IsGone(err) {
		t.Fatalf("continue after compaction: %v, want Gone", err)
	}
	if status, ok := err.(*api.Status); !ok || status.Code != 410 {
		t.Errorf("continue after compaction: %#v, want a Status with code 410", err)
	}
}
