package reconcile

import (
	"github.com/skiff-sh/skiff/core/api"
)

// Lister is typed, read-only access to an informer's cache. Returned objects
// are shared: api.DeepCopy before modifying.
type Lister[T api.Object] struct{ cache *Cache }

// NewLister returns a lister of kind T over inf's cache.
func NewLister[T api.Object](inf *Informer) Lister[T] { return Lister[T]{cache: inf.Cache()} }

// Get returns the object namespace/name (namespace "" for cluster-scoped).
func (l Lister[T]) Get(namespace, name string) (T, bool) {
	return l.GetByKey(api.KeyOf(namespace, name))
}

// GetByKey returns the object under a cache key.
func (l Lister[T]) GetByKey(key string) (T, bool) {
	obj, ok := l.cache.Get(key)
	if !ok {
		var zero T
		return zero, false
	}
	return obj.(T), true
}

// List returns the objects in namespace ("" = all) matching sel (nil = all).
func (l Lister[T]) List(namespace string, sel api.Selector) []T {
	var objs []api.Object
	if namespace == "" {
		objs = l.cache.List()
	} else {
		objs, _ = l.cache.ByIndex(IndexNamespace, namespace)
	}
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		if sel == nil || sel.Matches(obj.GetObjectMeta().Labels) {
			out = append(out, obj.(T))
		}
	}
	return out
}

// ByIndex returns the objects whose index has value; an unknown index
// returns nothing (indexes are fixed at construction, so that is a bug the
// first test finds).
func (l Lister[T]) ByIndex(index, value string) []T {
	objs, err := l.cache.ByIndex(index, value)
	if err != nil {
		panic(err)
	}
	out := make([]T, len(objs))
	for i, obj := range objs {
		out[i] = obj.(T)
	}
	return out
}

// ByUID returns the object with metadata.uid uid.
func (l Lister[T]) ByUID(uid string) (T, bool) {
	objs := l.ByIndex(IndexUID, uid)
	if len(objs) == 0 {
		var zero T
		return zero, false
	}
	return objs[0], true
}
