package store_test

import (
	"context"
	"fmt"
	"os"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "skiff-example-")
	defer os.RemoveAll(dir)

	etcd, err := store.StartEmbedded(ctx, store.EmbeddedConfig{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer etcd.Close()
	s := store.NewEtcd(etcd.Client(), "/skiff")
	defer s.Close()

	cms, _ := api.ResourceForKind("ConfigMap")
	w, _ := s.Watch(ctx, cms, "default", 0)
	defer w.Stop()

	created, _ := s.Create(ctx, &api.ConfigMap{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "settings"},
		Data:       map[string]string{"mode": "fast"},
	})
	stale := api.DeepCopy(created)
	_, _ = s.GuaranteedUpdate(ctx, cms, "default", "settings", func(obj api.Object) error {
		obj.(*api.ConfigMap).Data["mode"] = "safe"
		return nil
	})
	_, err = s.Update(ctx, stale) // written from an old resourceVersion
	fmt.Println("stale update conflicts:", api.IsConflict(err))

	for range 2 {
		e := <-w.ResultChan()
		fmt.Println(e.Type, e.Object.GetObjectMeta().Name, e.Object.(*api.ConfigMap).Data["mode"])
	}
	// Output:
	// stale update conflicts: true
	// ADDED settings fast
	// MODIFIED settings safe
}
