package endpoints

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ComputeSubsets builds the subsets of svc's Endpoints from the pods its
// selector matches. Pods without an IP, terminating or finished pods are
// left out. Each pod's ports are the service's ports resolved against it (a
// named targetPort is looked up among the pod's container ports; a pod
// without that name is left out of that port), and pods with the same
// resolved ports share a subset, as Kubernetes' RepackSubsets does. The
// result is sorted, so unchanged inputs give an identical value.
func ComputeSubsets(svc *api.Service, pods []*api.Pod) []api.EndpointSubset {
	type group struct {
		ports           []api.EndpointPort
		ready, notReady []api.EndpointAddress
	}
	groups := map[string]*group{}
	for _, pod := range pods {
		if !shouldInclude(pod) {
			continue
		}
		ports := resolvePorts(svc, pod)
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // no service port resolves on this pod
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
		}
		addr := address(svc, pod)
		if api.IsPodReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range groups {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]api.EndpointSubset, 0, len(groups))
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g.ready, compareAddress)
		slices.SortFunc(g.notReady, compareAddress)
		out = append(out, api.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

func shouldInclude(pod *api.Pod) bool {
	return pod.Status.PodIP != "" && pod.DeletionTimestamp == nil && !api.IsPodTerminal(pod)
}

// resolvePorts maps each service port to the port it reaches on pod, sorted
// by name then port.
func resolvePorts(svc *api.Service, pod *api.Pod) []api.EndpointPort {
	var out []api.EndpointPort
	for _, sp := range svc.Spec.Ports {
		proto := cmp.Or(sp.Protocol, "TCP")
		port, ok := findPort(pod, sp.TargetPort, proto)
		if !ok {
			continue
		}
		out = append(out, api.EndpointPort{Name: sp.Name, Port: port, Protocol: proto})
	}
	slices.SortFunc(out, func(a, b api.EndpointPort) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol))
	})
	return out
}

// findPort resolves a targetPort on pod: a number is used as is, a name is
// looked up among the containers' ports of the same protocol.
func findPort(pod *api.Pod, target intstr.IntOrString, proto string) (int32, bool) {
	if target.Type == intstr.Int {
		return target.IntVal, target.IntVal > 0
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == target.StrVal && cmp.Or(p.Protocol, "TCP") == proto {
				return p.ContainerPort, true
			}
		}
	}
	// A numeric string ("8080") is what some manifests write for a number.
	if n, err := strconv.ParseInt(target.StrVal, 10, 32); err == nil && n > 0 {
		return int32(n), true
	}
	return 0, false
}

func portsKey(ports []api.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(p.Name)
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(int(p.Port)))
		b.WriteByte('/')
		b.WriteString(p.Protocol)
		b.WriteByte(',')
	}
	return b.String()
}

func address(svc *api.Service, pod *api.Pod) api.EndpointAddress {
	addr := api.EndpointAddress{
		IP:        pod.Status.PodIP,
		TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		addr.NodeName = api.Ptr(pod.Spec.NodeName)
	}
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
		addr.Hostname = pod.Spec.Hostname
	}
	return addr
}

func compareAddress(a, b api.EndpointAddress) int {
	return cmp.Or(strings.Compare(a.IP, b.IP), strings.Compare(a.TargetRef.Name, b.TargetRef.Name))
}
