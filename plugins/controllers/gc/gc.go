// Package gc is the garbage collector: it deletes objects whose owners are
// gone, and carries out foreground and orphan deletions of owners.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Finalizers the API server adds for the propagation policies.
const (
	FinalizerForeground = "foregroundDeletion"
	FinalizerOrphan     = "orphan"
)

// foregroundRecheck is how often an owner in foreground deletion is looked
// at while dependents block it, in case a dependent's end was not mapped
// back to it (dependents are usually the ones that wake it).
const foregroundRecheck = 5 * time.Second

// Collector reconciles keys "<group/plural>|<namespace/name>" of any kind.
type Collector struct {
	client    *client.Client
	informers map[string]*reconcile.Informer // by resourceKey
	log       *slog.Logger
	queue     *reconcile.Queue
}

var _ reconcile.Reconciler = (*Collector)(nil)

func resourceKey(res *api.Resource) string { return res.Group + "/" + res.Plural }

func objectKey(res *api.Resource, obj api.Object) string {
	return resourceKey(res) + "|" + obj.GetObjectMeta().Key()
}

// dependents returns every cached object with an ownerReference to uid.
func (c *Collector) dependents(uid string) []dependent {
	var out []dependent
	for _, inf := range c.informers {
		objs, _ := inf.Cache().ByIndex(reconcile.IndexOwner, uid)
		for _, o := range objs {
			out = append(out, dependent{res: inf.Resource(), obj: o})
		}
	}
	return out
}

type dependent struct {
	res *api.Resource
	obj api.Object
}

// handler maps changes of one resource to keys.
func (c *Collector) handler(res *api.Resource) reconcile.Handler {
	self := func(obj api.Object) {
		meta := obj.GetObjectMeta()
		if len(meta.OwnerReferences) > 0 || (meta.DeletionTimestamp != nil && hasGCFinalizer(meta)) {
			c.queue.Add(objectKey(res, obj))
		}
	}
	// Owners waiting in foreground or orphan deletion care about their
	// dependents' changes.
	owners := func(obj api.Object) {
		for _, ref := range obj.GetObjectMeta().OwnerReferences {
			if owner, ores, ok := c.ownerInCache(ref, obj.GetObjectMeta().Namespace); ok && owner.GetObjectMeta().DeletionTimestamp != nil {
				c.queue.Add(objectKey(ores, owner))
			}
		}
	}
	return reconcile.HandlerFuncs{
		AddFunc: self,
		UpdateFunc: func(oldObj, newObj api.Object) {
			self(newObj)
			if newObj.GetObjectMeta().DeletionTimestamp != nil || len(oldObj.GetObjectMeta().OwnerReferences) != len(newObj.GetObjectMeta().OwnerReferences) {
				owners(oldObj)
			}
		},
		DeleteFunc: func(obj api.Object) {
			for _, d := range c.dependents(obj.GetObjectMeta().UID) {
				c.queue.Add(objectKey(d.res, d.obj))
			}
			owners(obj)
		},
	}
}

func hasGCFinalizer(meta *api.ObjectMeta) bool {
	return slices.Contains(meta.Finalizers, FinalizerForeground) || slices.Contains(meta.Finalizers, FinalizerOrphan)
}

// ownerInCache finds the owner ref points to in the cache.
func (c *Collector) ownerInCache(ref api.OwnerReference, namespace string) (api.Object, *api.Resource, bool) {
	res, ok := api.ResourceForKind(ref.Kind)
	if !ok {
		return nil, nil, false
	}
	inf := c.informers[resourceKey(res)]
	if inf == nil {
		return nil, nil, false
	}
	objs, _ := inf.Cache().ByIndex(reconcile.IndexUID, ref.UID)
	if len(objs) == 0 {
		return nil, res, false
	}
	return objs[0], res, true
}

// Reconcile handles one object: as an owner being deleted with a
// finalizer, and as a dependent whose owners may be gone.
func (c *Collector) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	resKey, objKey, ok := strings.Cut(key, "|")
	inf := c.informers[resKey]
	if !ok || inf == nil {
		return reconcile.Result{}, nil
	}
	obj, ok := inf.Cache().Get(objKey)
	if !ok {
		return reconcile.Result{}, nil
	}
	res := inf.Resource()
	meta := obj.GetObjectMeta()
	var result reconcile.Result
	var errs []error
	if meta.DeletionTimestamp != nil {
		switch {
		case slices.Contains(meta.Finalizers, FinalizerOrphan):
			errs = append(errs, c.orphanDependents(ctx, obj))
		case slices.Contains(meta.Finalizers, FinalizerForeground):
			wait, err := c.deleteDependentsFirst(ctx, obj)
			errs = append(errs, err)
			if wait {
				result.RequeueAfter = foregroundRecheck
			}
		}
	}
	if len(meta.OwnerReferences) > 0 {
		errs = append(errs, c.collectIfOrphaned(ctx, res, obj))
	}
	return result, errors.Join(errs...)
}

// orphanDependents removes the owner's references from its dependents, then
// the orphan finalizer, which lets the store remove the owner.
func (c *Collector) orphanDependents(ctx context.Context, owner api.Object) error {
	uid := owner.GetObjectMeta().UID
	var errs []error
	for _, d := range c.dependents(uid) {
		cp := api.DeepCopy(d.obj)
		m := cp.GetObjectMeta()
		m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(r api.OwnerReference) bool { return r.UID == uid })
		if _, err := c.client.Update(ctx, cp); err != nil && !api.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("orphan %s %q: %w", d.res.Singular, m.Key(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return internal.RemoveFinalizer(ctx, c.client, owner, FinalizerOrphan)
}

// deleteDependentsFirst deletes the owner's dependents (in foreground too,
// so the cascade goes down level by level) and removes the owner's
// foregroundDeletion finalizer once no blocking dependent is left. wait
// reports that blocking dependents remain.
func (c *Collector) deleteDependentsFirst(ctx context.Context, owner api.Object) (wait bool, err error) {
	uid := owner.GetObjectMeta().UID
	var errs []error
	blocking := 0
	for _, d := range c.dependents(uid) {
		m := d.obj.GetObjectMeta()
		for _, ref := range m.OwnerReferences {
			if ref.UID == uid && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				blocking++
				break
			}
		}
		if m.DeletionTimestamp == nil {
			errs = append(errs, internal.DeleteObject(ctx, c.client, d.res, d.obj, client.PropagationForeground))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return true, err
	}
	if blocking > 0 {
		return true, nil
	}
	return false, internal.RemoveFinalizer(ctx, c.client, owner, FinalizerForeground)
}

// collectIfOrphaned deletes obj when all its owners are gone, or drops the
// references to owners that are gone while others remain.
func (c *Collector) collectIfOrphaned(ctx context.Context, res *api.Resource, obj api.Object) error {
	meta := obj.GetObjectMeta()
	var dangling []string
	for _, ref := range meta.OwnerReferences {
		exists, err := c.ownerExists(ctx, ref, meta.Namespace)
		if err != nil {
			return err
		}
		if !exists {
			dangling = append(dangling, ref.UID)
		}
	}
	switch {
	case len(dangling) == 0:
		return nil
	case len(dangling) < len(meta.OwnerReferences):
		cp := api.DeepCopy(obj)
		m := cp.GetObjectMeta()
		m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(r api.OwnerReference) bool { return slices.Contains(dangling, r.UID) })
		if _, err := c.client.Update(ctx, cp); err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("drop references to deleted owners of %s %q: %w", res.Singular, meta.Key(), err)
		}
		return nil
	case meta.DeletionTimestamp != nil:
		return nil // already going
	}
	c.log.Debug("deleting object whose owners are gone", "resource", res.GroupResource(), "object", meta.Key())
	return internal.DeleteObject(ctx, c.client, res, obj, client.PropagationBackground)
}

// ownerExists checks the cache, then the API server: the cache may not have
// seen an owner created just before its dependent.
func (c *Collector) ownerExists(ctx context.Context, ref api.OwnerReference, namespace string) (bool, error) {
	if _, _, ok := c.ownerInCache(ref, namespace); ok {
		return true, nil
	}
	res, ok := api.ResourceForKind(ref.Kind)
	if !ok {
		// A kind this server does not serve cannot be checked; never
		// delete on a guess.
		return true, nil
	}
	ns := ""
	if res.Namespaced {
		ns = namespace
	}
	owner, err := c.client.Get(ctx, res, ns, ref.Name)
	switch {
	case api.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up owner %s %q: %w", res.Singular, ref.Name, err)
	}
	return owner.GetObjectMeta().UID == ref.UID, nil
}
