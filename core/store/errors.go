package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-sh/skiff/core/api"
)

// etcdError describes a failed etcd call as an error the API can classify:
// a timeout becomes a Timeout Status (504) and an etcd without a leader or
// out of reach a ServiceUnavailable one (503), both worth a retry; a full
// database says what to do. format and args name the operation.
func etcdError(err error, format string, args ...any) error {
	op := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded), status.Code(err) == codes.DeadlineExceeded,
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost):
		return api.NewStatus(api.ReasonTimeout, "%s: etcd did not answer in time (%v); retry", op, err)
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrStopped), status.Code(err) == codes.Unavailable:
		return api.NewStatus(api.ReasonServiceUnavailable, "%s: etcd is unavailable (%v); retry", op, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return api.NewStatus(api.ReasonInternalError, "%s: the etcd database reached its size quota (%v); compact and defragment it or raise the quota, then disarm the NOSPACE alarm", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
