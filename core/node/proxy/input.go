package proxy

import (
	"net/netip"
	"sort"

	"github.com/skiff-sh/skiff/core/api"
	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// Proxied reports whether a service gets a virtual IP on the nodes:
// headless and ExternalName services do not.
func Proxied(svc *api.Service) bool {
	if svc.Spec.Type == "ExternalName" || svc.DeletionTimestamp != nil {
		return false
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	return err == nil && ip.Is4()
}

// ServiceInput converts a Service and its Endpoints (nil when none exist
// yet) to the planner's form: every port with its ready endpoints, matched
// to endpoint ports by name and protocol as kube-proxy does.
func ServiceInput(svc *api.Service, ep *api.Endpoints) sdkproxy.Service {
	out := sdkproxy.Service{Namespace: svc.Namespace, Name: svc.Name, ClusterIP: svc.Spec.ClusterIP}
	if svc.Spec.SessionAffinity == "ClientIP" {
		out.SessionAffinity = "ClientIP"
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			out.AffinitySeconds = *c.ClientIP.TimeoutSeconds
		}
	}
	for _, sp := range svc.Spec.Ports {
		proto := sp.Protocol
		if proto == "" {
			proto = "TCP"
		}
		port := sdkproxy.Port{Name: sp.Name, Protocol: proto, Port: sp.Port, NodePort: sp.NodePort}
		if ep != nil {
			for _, subset := range ep.Subsets {
				for _, epp := range subset.Ports {
					epProto := epp.Protocol
					if epProto == "" {
						epProto = "TCP"
					}
					if epp.Name != sp.Name || epProto != proto {
						continue
					}
					for _, addr := range subset.Addresses { // ready only
						port.Endpoints = append(port.Endpoints, sdkproxy.Endpoint{IP: addr.IP, Port: epp.Port})
					}
				}
			}
		}
		sort.Slice(port.Endpoints, func(i, j int) bool {
			a, b := port.Endpoints[i], port.Endpoints[j]
			return a.IP < b.IP || a.IP == b.IP && a.Port < b.Port
		})
		out.Ports = append(out.Ports, port)
	}
	return out
}

// BuildInput is the planner's input for a set of services; endpointsOf
// returns a service's Endpoints or nil. Services are sorted by
// namespace/name so the plan does not depend on cache order.
func BuildInput(base sdkproxy.Input, services []*api.Service, endpointsOf func(namespace, name string) *api.Endpoints) *sdkproxy.Input {
	in := base
	in.Services = make([]sdkproxy.Service, 0, len(services))
	for _, svc := range services {
		if Proxied(svc) {
			in.Services = append(in.Services, ServiceInput(svc, endpointsOf(svc.Namespace, svc.Name)))
		}
	}
	sort.Slice(in.Services, func(i, j int) bool {
		a, b := &in.Services[i], &in.Services[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	return &in
}
