package statefulset

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/test/scenario"
)

// orderWatch watches the set's pods and records violations of ordered
// creation (a pod added before all lower ordinals were ready) and the
// order of deletions.
type orderWatch struct {
	mu         sync.Mutex
	violations []string
	deleted    []string
}

func watchOrder(t *testing.T, c *scenario.Cluster, set *api.StatefulSet) *orderWatch {
	w := &orderWatch{}
	inf := reconcile.NewInformer(c.Client, client.ResourceOf[*api.Pod](), nil)
	pods := reconcile.NewLister[*api.Pod](inf)
	inf.AddHandler(reconcile.HandlerFuncs{
		AddFunc: func(obj api.Object) {
			i, _ := Ordinal(set, obj.GetObjectMeta().Name)
			for j := range i {
				if p, ok := pods.Get("default", PodName(set, j)); !ok || !api.IsPodReady(p) {
					w.mu.Lock()
					w.violations = append(w.violations, fmt.Sprintf("%s created before %s was ready", obj.GetObjectMeta().Name, PodName(set, j)))
					w.mu.Unlock()
				}
			}
		},
		DeleteFunc: func(obj api.Object) {
			w.mu.Lock()
			w.deleted = append(w.deleted, obj.GetObjectMeta().Name)
			w.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inf.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	inf.WaitForSync(ctx)
	return w
}

// waitDeleted waits until exactly want were deleted, in that order, and
// starts a new record.
func (w *orderWatch) waitDeleted(t *testing.T, want ...string) {
	t.Helper()
	scenario.Eventually(t, 10*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !slices.Equal(w.deleted, want) {
			return fmt.Errorf("deleted %v, want %v", w.deleted, want)
		}
		w.deleted = nil
		return nil
	})
}

func waitPods(t *testing.T, c *scenario.Cluster, image string, names ...string) {
	t.Helper()
	scenario.Eventually(t, 20*time.Second, func() error {
		pods, err := c.ActivePods("default", "app=db")
		if err != nil {
			return err
		}
		var got []string
		for _, p := range pods {
			if !api.IsPodReady(p) || p.Spec.Containers[0].Image != image {
				return fmt.Errorf("pod %s not ready with %s yet", p.Name, image)
			}
			got = append(got, p.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, names) {
			return fmt.Errorf("pods %v, want %v", got, names)
		}
		return nil
	})
}

func update(t *testing.T, c *scenario.Cluster, mutate func(*api.StatefulSet)) {
	t.Helper()
	scenario.Eventually(t, 5*time.Second, func() error {
		s, err := client.Get[*api.StatefulSet](context.Background(), c.Client, "default", "db")
		if err != nil {
			return err
		}
		mutate(s)
		_, err = client.Update(context.Background(), c.Client, s)
		return err
	})
}

func TestStatefulSetOrderedLifecycle(t *testing.T) {
	c := scenario.Start(t, etcd, scenario.Options{Nodes: 2, NoManager: true})
	set := &api.StatefulSet{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: api.StatefulSetSpec{
			Replicas:    api.Int32Ptr(3),
			ServiceName: "db",
			Selector:    &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "db", Image: "db:1"}}},
			},
		},
	}
	w := watchOrder(t, c, set)
	c.RunControllers(t, nil, scenario.Controller{Name: Name, Factory: New})
	ctx := context.Background()
	if _, err := client.Create(ctx, c.Client, set); err != nil {
		t.Fatal(err)
	}
	waitPods(t, c, "db:1", "db-0", "db-1", "db-2")
	p, err := client.Get[*api.Pod](ctx, c.Client, "default", "db-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Hostname != "db-1" || p.Spec.Subdomain != "db" || p.Labels[PodNameLabel] != "db-1" || p.Labels[RevisionLabel] == "" {
		t.Fatalf("db-1 identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}

	// Scale down: from the top, one at a time.
	update(t, c, func(s *api.StatefulSet) { s.Spec.Replicas = api.Int32Ptr(1) })
	waitPods(t, c, "db:1", "db-0")
	w.waitDeleted(t, "db-2", "db-1")

	// Back up, then a rolling update from the highest ordinal down.
	update(t, c, func(s *api.StatefulSet) { s.Spec.Replicas = api.Int32Ptr(3) })
	waitPods(t, c, "db:1", "db-0", "db-1", "db-2")
	update(t, c, func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "db:2" })
	waitPods(t, c, "db:2", "db-0", "db-1", "db-2")
	w.waitDeleted(t, "db-2", "db-1", "db-0")
	scenario.Eventually(t, 10*time.Second, func() error {
		s, err := client.Get[*api.StatefulSet](ctx, c.Client, "default", "db")
		if err != nil {
			return err
		}
		st := s.Status
		if st.Replicas != 3 || st.ReadyReplicas != 3 || st.UpdatedReplicas != 3 || st.CurrentReplicas != 3 ||
			st.CurrentRevision != st.UpdateRevision || st.UpdateRevision != Revision(s) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("ordered creation violated: %v", w.violations)
	}
}
