package internal

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// RemoveFinalizer writes a copy of obj without finalizer, guarded by obj's
// resourceVersion (a Conflict means the cache was stale: retry). An object
// already gone is fine.
func RemoveFinalizer(ctx context.Context, c *client.Client, obj api.Object, finalizer string) error {
	meta := obj.GetObjectMeta()
	if !slices.Contains(meta.Finalizers, finalizer) {
		return nil
	}
	cp := api.DeepCopy(obj)
	cm := cp.GetObjectMeta()
	cm.Finalizers = slices.DeleteFunc(cm.Finalizers, func(f string) bool { return f == finalizer })
	if _, err := c.Update(ctx, cp); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("remove finalizer %q from %s %q: %w", finalizer, cp.GetTypeMeta().Kind, meta.Key(), err)
	}
	return nil
}

// DeleteObject deletes obj (guarded by its UID, so a re-created namesake is
// safe) with the given propagation policy; an object already gone is fine.
func DeleteObject(ctx context.Context, c *client.Client, res *api.Resource, obj api.Object, propagation string) error {
	meta := obj.GetObjectMeta()
	uid := meta.UID
	err := c.Delete(ctx, res, meta.Namespace, meta.Name, client.DeleteOptions{PropagationPolicy: propagation, Preconditions: &client.Preconditions{UID: &uid}})
	if err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("delete %s %q: %w", res.Singular, meta.Key(), err)
	}
	return nil
}
