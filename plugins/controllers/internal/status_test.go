package internal

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/core/reconcile"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

func TestFinishReconcile(t *testing.T) {
	srv := etcd.NewServer(t)
	ctx := context.Background()
	rs, err := client.Create(ctx, srv.Client, &api.ReplicaSet{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32Ptr(3), Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "web:1"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	withReplicas := func(n int32) *api.ReplicaSet {
		cur, err := client.Get[*api.ReplicaSet](ctx, srv.Client, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		cur.Status.Replicas = n
		return cur
	}
	replicas := func() int32 {
		cur, err := client.Get[*api.ReplicaSet](ctx, srv.Client, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		return cur.Status.Replicas
	}
	clock := reconcile.NewFakeClock(time.Now())
	b := NewStatusBatcher(clock)
	manageErr := errors.New("create pod: quota")

	// Unchanged: no write, the reconcile's own errors come back.
	if _, err := FinishReconcile(ctx, srv.Client, b, withReplicas(7), false, false, time.Minute, manageErr); !errors.Is(err, manageErr) || replicas() != 0 {
		t.Fatalf("unchanged status: err %v, replicas %d; want the manage error and no write", err, replicas())
	}
	// A first write goes at once; the result keeps next.
	res, err := FinishReconcile(ctx, srv.Client, b, withReplicas(1), true, false, time.Minute)
	if err != nil || res.RequeueAfter != time.Minute || replicas() != 1 {
		t.Fatalf("first write: %+v %v, replicas %d", res, err, replicas())
	}
	// An intermediate write right after is put off: the result comes back
	// when it is due, sooner than next.
	res, err = FinishReconcile(ctx, srv.Client, b, withReplicas(2), true, false, time.Minute)
	if err != nil || res.RequeueAfter <= 0 || res.RequeueAfter > StatusInterval || replicas() != 1 {
		t.Fatalf("batched write: %+v %v, replicas %d; want a requeue within %s and no write", res, err, replicas(), StatusInterval)
	}
	// A final one is never put off.
	if _, err := FinishReconcile(ctx, srv.Client, b, withReplicas(3), true, true, 0); err != nil || replicas() != 3 {
		t.Fatalf("final write: %v, replicas %d", err, replicas())
	}
	// Without a batcher every write goes at once.
	if _, err := FinishReconcile(ctx, srv.Client, nil, withReplicas(4), true, false, 0); err != nil || replicas() != 4 {
		t.Fatalf("unbatched write: %v, replicas %d", err, replicas())
	}
	// A stale object fails, naming it, joined with the reconcile's errors.
	_, err = FinishReconcile(ctx, srv.Client, nil, rs, true, true, 0, manageErr)
	if !errors.Is(err, manageErr) || !api.IsConflict(err) || !strings.Contains(err.Error(), `replicaset "default/web": update status`) {
		t.Fatalf("stale write: want a conflict naming the replicaset, joined with the manage error; got %v", err)
	}
	// An object already gone is not an error.
	gone := withReplicas(5)
	if err := client.Delete[*api.ReplicaSet](ctx, srv.Client, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := FinishReconcile(ctx, srv.Client, nil, gone, true, true, 0); err != nil {
		t.Fatalf("deleted object: %v", err)
	}
}
