package scenario

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
)

// NewDeployment returns a Deployment of image with app=name labels.
func NewDeployment(namespace, name, image string, replicas int32) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: api.ObjectMeta{Namespace: namespace, Name: name},
		Spec: api.DeploymentSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "main", Image: image}}},
			},
		},
	}
}

func createDeployment(c *Cluster, name string, replicas int32) (*api.Deployment, error) {
	return client.Create(context.Background(), c.Client, NewDeployment("default", name, "nginx:1", replicas))
}

// RollingUpdate sets a RollingUpdate strategy with the given bounds.
func RollingUpdate(d *api.Deployment, maxSurge, maxUnavailable intstr.IntOrString) *api.Deployment {
	d.Spec.Strategy = api.DeploymentStrategy{Type: "RollingUpdate", RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: &maxSurge, MaxUnavailable: &maxUnavailable}}
	return d
}

// Eventually polls cond every 20ms until it returns nil or timeout passes,
// then fails with cond's last error (clienttest.Eventually).
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	clienttest.Eventually(t, timeout, cond)
}

// ActivePods lists the pods in namespace matching selector that are not
// terminal and not being deleted.
func (c *Cluster) ActivePods(namespace, selector string) ([]*api.Pod, error) {
	list, err := client.List[*api.Pod](context.Background(), c.Client, namespace, client.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	for _, p := range list.Items {
		if api.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// WaitDeploymentComplete waits until the Deployment has rolled out its
// current template: every replica updated, ready and available, no old
// pods, observedGeneration current.
func (c *Cluster) WaitDeploymentComplete(t testing.TB, namespace, name string, timeout time.Duration) *api.Deployment {
	t.Helper()
	var d *api.Deployment
	Eventually(t, timeout, func() error {
		var err error
		d, err = client.Get[*api.Deployment](context.Background(), c.Client, namespace, name)
		if err != nil {
			return err
		}
		want := *d.Spec.Replicas
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.Replicas != want || st.AvailableReplicas != want || st.ReadyReplicas != want {
			return fmt.Errorf("deployment %s/%s: generation %d observed %d, replicas %d updated %d ready %d available %d, want %d",
				namespace, name, d.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, want)
		}
		pods, err := c.ActivePods(namespace, api.FormatLabels(d.Spec.Selector.MatchLabels))
		if err != nil {
			return err
		}
		if len(pods) != int(want) {
			return fmt.Errorf("deployment %s/%s: %d active pods, want %d", namespace, name, len(pods), want)
		}
		return nil
	})
	return d
}

// OwnedReplicaSets lists the ReplicaSets controlled by d.
func (c *Cluster) OwnedReplicaSets(d *api.Deployment) ([]*api.ReplicaSet, error) {
	list, err := client.List[*api.ReplicaSet](context.Background(), c.Client, d.Namespace, client.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*api.ReplicaSet
	for _, rs := range list.Items {
		if rs.IsControlledBy(d.UID) {
			out = append(out, rs)
		}
	}
	return out, nil
}
