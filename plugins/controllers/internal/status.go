package internal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// FinishReconcile ends a workload reconcile with its one status write.
// When changed, it writes updated (the cached object's shallow copy with
// the new status) through b: at once if final, else batched, in which case
// the result comes back when the write is due; a nil b writes at once. It
// joins errs (the reconcile's own) with a failed write, naming the object;
// an object already gone is not an error. The result asks for the next
// look after next, 0 meaning none, unless there is an error.
func FinishReconcile[T api.Object](ctx context.Context, c *client.Client, b *StatusBatcher, updated T, changed, final bool, next time.Duration, errs ...error) (reconcile.Result, error) {
	if changed {
		write := func() error {
			_, err := client.UpdateStatus(ctx, c, updated)
			return err
		}
		key := updated.GetObjectMeta().Key()
		var wait time.Duration
		var err error
		if b != nil {
			wait, err = b.Write(key, final, write)
		} else if err = write(); api.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: update status: %w", singular(updated), key, err))
		}
		next = MinPositive(next, wait)
	}
	if err := errors.Join(errs...); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: next}, nil
}
