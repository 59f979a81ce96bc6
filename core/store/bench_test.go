package store

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

func benchPod(i int) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			Namespace: "default", Name: fmt.Sprintf("web-%06d", i),
			Labels: map[string]string{"app": "web", "tier": "frontend"},
		},
		Spec: api.PodSpec{
			NodeName:   "node-1",
			Containers: []api.Container{{Name: "web", Image: "registry.local/web:1.2.3", Args: []string{"--port", "8080"}}},
		},
	}
}

func BenchmarkCreate(b *testing.B) {
	ctx, s := testContext(b), newStore(b)
	i := 0
	for b.Loop() {
		mustCreate(b, ctx, s, benchPod(i))
		i++
	}
}

func BenchmarkGet(b *testing.B) {
	ctx, s := testContext(b), newStore(b)
	pods := resource(b, "Pod")
	mustCreate(b, ctx, s, benchPod(0))
	for b.Loop() {
		if _, err := s.Get(ctx, pods, "default", "web-000000"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGuaranteedUpdate(b *testing.B) {
	ctx, s := testContext(b), newStore(b)
	pods := resource(b, "Pod")
	mustCreate(b, ctx, s, benchPod(0))
	n := 0
	for b.Loop() {
		n++
		_, err := s.GuaranteedUpdate(ctx, pods, "default", "web-000000", func(obj api.Object) error {
			obj.(*api.Pod).Status.Message = fmt.Sprint(n)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList1000(b *testing.B) {
	ctx, s := testContext(b), newStore(b)
	pods := resource(b, "Pod")
	for i := range 1000 {
		mustCreate(b, ctx, s, benchPod(i))
	}
	for b.Loop() {
		list, err := s.List(ctx, pods, "default", ListOptions{})
		if err != nil || len(list.Items) != 1000 {
			b.Fatalf("list: %v", err)
		}
	}
}

// BenchmarkWatchEventDecode is the per-event cost a watch adds on top of
// etcd: turning one etcd event into a store event.
func BenchmarkWatchEventDecode(b *testing.B) {
	pods := resource(b, "Pod")
	pod := benchPod(0)
	data, err := encode(pods, pod)
	if err != nil {
		b.Fatal(err)
	}
	w := &etcdWatcher{res: pods}
	ev := &clientv3.Event{
		Type:   clientv3.EventTypePut,
		Kv:     &mvccpb.KeyValue{Key: []byte("/skiff/core/pods/default/web-000000"), Value: data, CreateRevision: 5, ModRevision: 9},
		PrevKv: &mvccpb.KeyValue{Value: data},
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := w.convert(ev); err != nil {
			b.Fatal(err)
		}
	}
}
