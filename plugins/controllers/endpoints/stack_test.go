package endpoints

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/plugins/controllers/statefulset"
	"github.com/skiff-sh/skiff/test/scenario"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A headless service over a StatefulSet lists each member with its stable
// hostname, as DNS needs for <pod>.<service> names: the two controllers
// together with skiff's other workload controllers.
func TestStatefulSetMembersGetHostnames(t *testing.T) {
	c := scenario.Start(t, etcd, scenario.Options{Nodes: 2, NoManager: true})
	c.RunControllers(t, nil, append(scenario.WorkloadControllers(),
		scenario.Controller{Name: Name, Factory: New}, scenario.Controller{Name: statefulset.Name, Factory: statefulset.New})...)
	ctx := context.Background()

	labels := map[string]string{"app": "db"}
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: api.ServiceSpec{ClusterIP: "None", Selector: labels, Ports: []api.ServicePort{{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432)}}}}
	set := &api.StatefulSet{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: api.StatefulSetSpec{Replicas: api.Int32Ptr(2), ServiceName: "db", Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels}, Spec: api.PodSpec{Containers: []api.Container{{Name: "db", Image: "postgres"}}}}}}
	for _, obj := range []api.Object{svc, set} {
		if _, err := c.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	scenario.Eventually(t, 15*time.Second, func() error {
		ep, err := client.Get[*api.Endpoints](ctx, c.Client, "default", "db")
		if err != nil {
			return err
		}
		var hosts []string
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				hosts = append(hosts, a.Hostname)
			}
		}
		slices.Sort(hosts)
		if !slices.Equal(hosts, []string{"db-0", "db-1"}) {
			return fmt.Errorf("ready hostnames %v, want [db-0 db-1]", hosts)
		}
		return nil
	})
}
