package internal

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// Claim sorts candidates (same namespace as owner) into the ones owner
// controls, as Kubernetes' ControllerRefManager does:
//   - controlled by owner and matching sel: kept;
//   - controlled by owner but no longer matching: released (the reference
//     is removed), unless being deleted;
//   - controlled by no one, matching sel and not being deleted: adopted
//     (owner becomes its controller), after a live read confirms owner
//     still exists with the same UID and is not being deleted.
//
// Adoptions and releases that lose a race are skipped: the update event
// brings the owner back for another try.
func Claim[T api.Object](ctx context.Context, c *client.Client, owner api.Object, sel api.Selector, candidates []T) ([]T, error) {
	ownerMeta := owner.GetObjectMeta()
	var claimed []T
	var errs []error
	adoptChecked, canAdopt := false, false
	for _, obj := range candidates {
		meta := obj.GetObjectMeta()
		ref := meta.ControllerRef()
		matches := sel.Matches(meta.Labels)
		switch {
		case ref != nil && ref.UID == ownerMeta.UID:
			if matches || meta.DeletionTimestamp != nil || ownerMeta.DeletionTimestamp != nil {
				claimed = append(claimed, obj)
				continue
			}
			if err := updateRefs(ctx, c, obj, func(m *api.ObjectMeta) { m.OwnerReferences = withoutOwner(m.OwnerReferences, ownerMeta.UID) }); err != nil {
				errs = append(errs, err)
			}
		case ref == nil && matches && meta.DeletionTimestamp == nil && ownerMeta.DeletionTimestamp == nil:
			if !adoptChecked {
				adoptChecked = true
				var err error
				if canAdopt, err = stillOwner(ctx, c, owner); err != nil {
					errs = append(errs, err)
				}
			}
			if !canAdopt {
				continue
			}
			controllerRef := api.NewControllerRef(owner)
			adopted, err := updateRefsReturning(ctx, c, obj, func(m *api.ObjectMeta) {
				m.OwnerReferences = append(withoutOwner(m.OwnerReferences, ownerMeta.UID), controllerRef)
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if adopted != nil {
				claimed = append(claimed, adopted.(T))
			}
		}
	}
	return claimed, errors.Join(errs...)
}

// stillOwner reads owner from the API server: the cache may hold an owner
// that was just deleted, and adopting for a dead owner would hand the
// dependent to the garbage collector.
func stillOwner(ctx context.Context, c *client.Client, owner api.Object) (bool, error) {
	res, ok := api.ResourceFor(owner)
	if !ok {
		return false, fmt.Errorf("%T is not a kind the API serves", owner)
	}
	meta := owner.GetObjectMeta()
	fresh, err := c.Get(ctx, res, meta.Namespace, meta.Name)
	if api.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s %q: check before adopting: %w", res.Singular, meta.Name, err)
	}
	fm := fresh.GetObjectMeta()
	return fm.UID == meta.UID && fm.DeletionTimestamp == nil, nil
}

func updateRefs(ctx context.Context, c *client.Client, obj api.Object, mutate func(*api.ObjectMeta)) error {
	_, err := updateRefsReturning(ctx, c, obj, mutate)
	return err
}

// updateRefsReturning writes a copy of obj with mutated metadata, guarded
// by obj's resourceVersion. A lost race or a vanished object returns nil, nil.
func updateRefsReturning(ctx context.Context, c *client.Client, obj api.Object, mutate func(*api.ObjectMeta)) (api.Object, error) {
	cp := api.DeepCopy(obj)
	mutate(cp.GetObjectMeta())
	out, err := c.Update(ctx, cp)
	if api.IsConflict(err) || api.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update owner references of %s %q: %w", cp.GetTypeMeta().Kind, cp.GetObjectMeta().Name, err)
	}
	return out, nil
}

func withoutOwner(refs []api.OwnerReference, uid string) []api.OwnerReference {
	out := make([]api.OwnerReference, 0, len(refs))
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}
