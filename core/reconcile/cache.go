package reconcile

import (
	"fmt"
	"sync"

	"github.com/skiff-sh/skiff/core/api"
)

// IndexFunc returns the index values of an object (none, one or several).
type IndexFunc func(obj api.Object) []string

// Names of the indexes every informer keeps.
const (
	// IndexNamespace: metadata.namespace.
	IndexNamespace = "namespace"
	// IndexUID: metadata.uid, to find an owner from an ownerReference.
	IndexUID = "uid"
	// IndexController: the UID of the controller ownerReference.
	IndexController = "controller"
	// IndexOwner: the UIDs of every ownerReference.
	IndexOwner = "owner"
	// IndexOrphan: the namespace of objects without a controller
	// ownerReference, so controllers find adoption candidates without
	// scanning a whole namespace.
	IndexOrphan = "orphan"
	// IndexNodeName: spec.nodeName of pods ("" for unscheduled pods).
	IndexNodeName = "spec.nodeName"
)

// DefaultIndexers are the indexes of every informer; pods also get
// IndexNodeName.
func DefaultIndexers(res *api.Resource) map[string]IndexFunc {
	idx := map[string]IndexFunc{
		IndexNamespace: func(o api.Object) []string { return []string{o.GetObjectMeta().Namespace} },
		IndexUID:       func(o api.Object) []string { return []string{o.GetObjectMeta().UID} },
		IndexController: func(o api.Object) []string {
			if ref := o.GetObjectMeta().ControllerRef(); ref != nil {
				return []string{ref.UID}
			}
			return nil
		},
		IndexOrphan: func(o api.Object) []string {
			if meta := o.GetObjectMeta(); meta.ControllerRef() == nil {
				return []string{meta.Namespace}
			}
			return nil
		},
		IndexOwner: func(o api.Object) []string {
			refs := o.GetObjectMeta().OwnerReferences
			out := make([]string, len(refs))
			for i := range refs {
				out[i] = refs[i].UID
			}
			return out
		},
	}
	if res != nil && res.Kind == "Pod" {
		idx[IndexNodeName] = func(o api.Object) []string {
			if p, ok := o.(*api.Pod); ok {
				return []string{p.Spec.NodeName}
			}
			return nil
		}
	}
	return idx
}

// Cache is a thread-safe map of objects by key ("namespace/name") with
// secondary indexes. Stored objects are shared: never modify one.
type Cache struct {
	mu       sync.RWMutex
	items    map[string]api.Object
	indexers map[string]IndexFunc
	// indices[index][value] is the set of keys with that value.
	indices map[string]map[string]map[string]struct{}
}

// NewCache returns an empty cache maintaining the given indexes.
func NewCache(indexers map[string]IndexFunc) *Cache {
	c := &Cache{items: map[string]api.Object{}, indexers: map[string]IndexFunc{}, indices: map[string]map[string]map[string]struct{}{}}
	for name, fn := range indexers {
		c.indexers[name] = fn
		c.indices[name] = map[string]map[string]struct{}{}
	}
	return c
}

// Upsert stores obj and returns the object it replaced, if any.
func (c *Cache) Upsert(obj api.Object) (old api.Object, existed bool) {
	key := obj.GetObjectMeta().Key()
	c.mu.Lock()
	defer c.mu.Unlock()
	old, existed = c.items[key]
	if existed {
		c.unindex(key, old)
	}
	c.items[key] = obj
	c.index(key, obj)
	return old, existed
}

// Delete removes the object under key and returns it.
func (c *Cache) Delete(key string) (api.Object, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.items[key]
	if ok {
		c.unindex(key, old)
		delete(c.items, key)
	}
	return old, ok
}

// Get returns the object under key.
func (c *Cache) Get(key string) (api.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	obj, ok := c.items[key]
	return obj, ok
}

// List returns every object, in no particular order.
func (c *Cache) List() []api.Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]api.Object, 0, len(c.items))
	for _, obj := range c.items {
		out = append(out, obj)
	}
	return out
}

// Keys returns every key.
func (c *Cache) Keys() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.items))
	for k := range c.items {
		out = append(out, k)
	}
	return out
}

// Len is the number of objects.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// ByIndex returns the objects whose index has value.
func (c *Cache) ByIndex(index, value string) ([]api.Object, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	values, ok := c.indices[index]
	if !ok {
		return nil, fmt.Errorf("cache: no index %q; add it with AddIndexer before the informer starts", index)
	}
	keys := values[value]
	out := make([]api.Object, 0, len(keys))
	for k := range keys {
		out = append(out, c.items[k])
	}
	return out, nil
}

// AddIndexer adds an index and indexes the objects already stored.
func (c *Cache) AddIndexer(name string, fn IndexFunc) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.indexers[name]; ok {
		return fmt.Errorf("cache: index %q already exists", name)
	}
	c.indexers[name] = fn
	c.indices[name] = map[string]map[string]struct{}{}
	for key, obj := range c.items {
		c.indexOne(name, fn, key, obj)
	}
	return nil
}

func (c *Cache) index(key string, obj api.Object) {
	for name, fn := range c.indexers {
		c.indexOne(name, fn, key, obj)
	}
}

func (c *Cache) indexOne(name string, fn IndexFunc, key string, obj api.Object) {
	values := c.indices[name]
	for _, v := range fn(obj) {
		set := values[v]
		if set == nil {
			set = map[string]struct{}{}
			values[v] = set
		}
		set[key] = struct{}{}
	}
}

func (c *Cache) unindex(key string, obj api.Object) {
	for name, fn := range c.indexers {
		values := c.indices[name]
		for _, v := range fn(obj) {
			if set := values[v]; set != nil {
				delete(set, key)
				if len(set) == 0 {
					delete(values, v)
				}
			}
		}
	}
}
