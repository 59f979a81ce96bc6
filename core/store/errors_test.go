package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-sh/skiff/core/api"
)

func TestEtcdErrorClassifies(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want api.StatusReason
	}{
		{context.DeadlineExceeded, api.ReasonTimeout},
		{status.Error(codes.DeadlineExceeded, "slow"), api.ReasonTimeout},
		{rpctypes.ErrTimeout, api.ReasonTimeout},
		{rpctypes.ErrNoLeader, api.ReasonServiceUnavailable},
		{status.Error(codes.Unavailable, "connection refused"), api.ReasonServiceUnavailable},
		{rpctypes.ErrNoSpace, api.ReasonInternalError},
		{context.Canceled, ""},
		{errors.New("something else"), ""},
	} {
		err := etcdError(tc.err, "store: get %s %q", "pods", "web")
		if got := api.ReasonOf(err); got != tc.want {
			t.Errorf("%v: reason %q, want %q", tc.err, got, tc.want)
		}
		if tc.want == "" && !errors.Is(err, tc.err) {
			t.Errorf("%v: not wrapped: %v", tc.err, err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, `store: get pods "web": `) {
			t.Errorf("%v: message %q does not name the operation", tc.err, msg)
		}
	}
}
