package endpoints

import (
	"fmt"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// BenchmarkComputeSubsets is one reconcile's computation for a service with
// a named targetPort over 5,000 pods.
func BenchmarkComputeSubsets(b *testing.B) {
	svc := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Name: "http", Port: 80, Protocol: "TCP", TargetPort: intstr.FromString("http")}}}}
	pods := make([]*api.Pod, 5000)
	for i := range pods {
		pods[i] = pod(fmt.Sprintf("web-%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), i%10 != 0,
			api.ContainerPort{Name: "http", ContainerPort: 8080})
	}
	b.ReportAllocs()
	for b.Loop() {
		ComputeSubsets(svc, pods)
	}
}
