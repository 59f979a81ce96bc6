package scenario

import (
	"context"
	"fmt"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

func TestDeletingADeploymentCascades(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	for _, policy := range []string{client.PropagationBackground, client.PropagationForeground, client.PropagationOrphan} {
		t.Run(policy, func(t *testing.T) {
			name := "web-" + map[string]string{"Background": "bg", "Foreground": "fg", "Orphan": "orphan"}[policy]
			if _, err := client.Create(ctx, c.Client, NewDeployment("default", name, "nginx:1", 2)); err != nil {
				t.Fatal(err)
			}
			d := c.WaitDeploymentComplete(t, "default", name, converge)
			rss, _ := c.OwnedReplicaSets(d)
			if len(rss) != 1 {
				t.Fatalf("replica sets: %s", describe(rss))
			}
			rs := rss[0]
			if err := client.Delete[*api.Deployment](ctx, c.Client, "default", name, client.DeleteOptions{PropagationPolicy: policy}); err != nil {
				t.Fatal(err)
			}
			if policy == client.PropagationForeground {
				// The owner waits, marked for deletion, until its
				// dependents are gone.
				cur, err := client.Get[*api.Deployment](ctx, c.Client, "default", name)
				if err == nil && cur.DeletionTimestamp == nil {
					t.Fatal("foreground delete left the deployment unmarked")
				}
			}
			Eventually(t, converge, func() error {
				if _, err := client.Get[*api.Deployment](ctx, c.Client, "default", name); !api.IsNotFound(err) {
					return fmt.Errorf("deployment still there (err %v)", err)
				}
				return nil
			})
			if policy == client.PropagationOrphan {
				Eventually(t, converge, func() error {
					cur, err := client.Get[*api.ReplicaSet](ctx, c.Client, "default", rs.Name)
					if err != nil {
						return err
					}
					if len(cur.OwnerReferences) != 0 {
						return fmt.Errorf("orphaned replica set still has owners %v", cur.OwnerReferences)
					}
					pods, err := c.ActivePods("default", "app="+name)
					if err != nil || len(pods) != 2 {
						return fmt.Errorf("orphaned replica set should keep its 2 pods, has %d (%v)", len(pods), err)
					}
					return nil
				})
				return
			}
			Eventually(t, converge, func() error {
				if _, err := client.Get[*api.ReplicaSet](ctx, c.Client, "default", rs.Name); !api.IsNotFound(err) {
					return fmt.Errorf("replica set %s still there (err %v)", rs.Name, err)
				}
				list, err := client.List[*api.Pod](ctx, c.Client, "default", client.ListOptions{LabelSelector: "app=" + name})
				if err != nil {
					return err
				}
				if len(list.Items) != 0 {
					return fmt.Errorf("%d pods left", len(list.Items))
				}
				return nil
			})
		})
	}
}

func TestForegroundDeletionRemovesDependentsFirst(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	if _, err := client.Create(ctx, c.Client, NewDeployment("default", "web", "nginx:1", 2)); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "default", "web", converge)
	// Keep pods from finishing termination: the deployment must wait.
	c.Nodes.Stop()
	if err := client.Delete[*api.Deployment](ctx, c.Client, "default", "web", client.DeleteOptions{PropagationPolicy: client.PropagationForeground}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, converge, func() error {
		list, err := client.List[*api.Pod](ctx, c.Client, "default", client.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				return fmt.Errorf("pod %s not yet being deleted", p.Name)
			}
		}
		return nil
	})
	d, err := client.Get[*api.Deployment](ctx, c.Client, "default", "web")
	if err != nil {
		t.Fatalf("the deployment went before its pods: %v", err)
	}
	if d.DeletionTimestamp == nil {
		t.Fatal("deployment not marked for deletion")
	}
}

func TestDeletingANamespaceEmptiesIt(t *testing.T) {
	c := Start(t, etcd, Options{})
	ctx := context.Background()
	ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: api.ObjectMeta{Name: "team"}}
	if _, err := client.Create(ctx, c.Client, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Create(ctx, c.Client, NewDeployment("team", "web", "nginx:1", 2)); err != nil {
		t.Fatal(err)
	}
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: api.ObjectMeta{Namespace: "team", Name: "conf"}, Data: map[string]string{"a": "b"}}
	if _, err := client.Create(ctx, c.Client, cm); err != nil {
		t.Fatal(err)
	}
	c.WaitDeploymentComplete(t, "team", "web", converge)
	if err := client.Delete[*api.Namespace](ctx, c.Client, "", "team", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	Eventually(t, converge, func() error {
		_, err := client.Get[*api.Namespace](ctx, c.Client, "", "team")
		if !api.IsNotFound(err) {
			return fmt.Errorf("namespace still there (err %v)", err)
		}
		return nil
	})
	for _, res := range api.Resources() {
		if !res.Namespaced {
			continue
		}
		list, err := c.Client.List(ctx, res, "team", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 0 {
			t.Fatalf("%d %s left in the deleted namespace", len(list.Items), res.Plural)
		}
	}
}

func TestDefaultNamespacesAreEnsured(t *testing.T) {
	c := Start(t, etcd, Options{})
	Eventually(t, converge, func() error {
		for _, name := range []string{"default", "skiff-system"} {
			if _, err := client.Get[*api.Namespace](context.Background(), c.Client, "", name); err != nil {
				return err
			}
		}
		return nil
	})
}
