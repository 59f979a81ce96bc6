package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// held is what a Service holds: record names.
func held(svc *api.Service) []string {
	if svc == nil || svc.Spec.Type == "ExternalName" {
		return nil
	}
	var names []string
	if ip := svc.Spec.ClusterIP; ip != "" && ip != "None" {
		names = append(names, clusterIPRecord(ip))
	}
	if needsNodePorts(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && !slices.Contains(names, nodePortRecord(p.NodePort)) {
				names = append(names, nodePortRecord(p.NodePort))
			}
		}
	}
	return names
}

func needsNodePorts(svc *api.Service) bool {
	return svc.Spec.Type == "NodePort" || svc.Spec.Type == "LoadBalancer"
}

// carryServiceAllocations fills what an update of a Service left empty
// from the stored object, as Kubernetes does: a manifest applied again
// without clusterIP or nodePort keeps the allocated ones. NodePorts of a
// Service that no longer needs them are dropped.
func carryServiceAllocations(obj, old api.Object) {
	n, ok := obj.(*api.Service)
	o, _ := old.(*api.Service)
	if !ok || o == nil {
		return
	}
	if n.Spec.ClusterIP == "" && n.Spec.Type != "ExternalName" && o.Spec.Type != "ExternalName" {
		n.Spec.ClusterIP, n.Spec.ClusterIPs = o.Spec.ClusterIP, o.Spec.ClusterIPs
	}
	for i := range n.Spec.Ports {
		p := &n.Spec.Ports[i]
		if !needsNodePorts(n) {
			p.NodePort = 0
			continue
		}
		if p.NodePort != 0 {
			continue
		}
		for _, op := range o.Spec.Ports {
			if op.Port == p.Port && op.Protocol == p.Protocol && (op.Name == p.Name || len(o.Spec.Ports) == 1) {
				p.NodePort = op.NodePort
			}
		}
	}
}

// withServiceAllocations stores a Service (write is the store's Create or
// Update) with its cluster IP and NodePorts: it claims what the Service
// needs and old did not hold, releases those claims if the write fails,
// and releases what old held and the Service no longer does once it
// succeeds. Other kinds go straight to write.
func (s *Server) withServiceAllocations(ctx context.Context, obj, old api.Object, write func(context.Context, api.Object) (api.Object, error)) (api.Object, error) {
	svc, ok := obj.(*api.Service)
	if !ok || s.services == nil {
		return write(ctx, obj)
	}
	oldSvc, _ := old.(*api.Service)
	claimed, err := s.services.claimFor(ctx, svc, held(oldSvc))
	if err != nil {
		s.services.releaseAll(ctx, claimed, ownerOf(svc))
		return nil, err
	}
	out, err := write(ctx, obj)
	if err != nil {
		s.services.releaseAll(ctx, claimed, ownerOf(svc))
		return nil, err
	}
	var stale []string
	for _, name := range held(oldSvc) {
		if !slices.Contains(held(svc), name) {
			stale = append(stale, name)
		}
	}
	s.services.releaseAll(ctx, stale, ownerOf(svc))
	return out, nil
}

// serviceDeleted releases a deleted Service's allocations. A Service kept
// by finalizers keeps them; the repair pass frees them once it is gone.
func (s *Server) serviceDeleted(ctx context.Context, out api.Object, err error) {
	if svc, ok := out.(*api.Service); ok && err == nil && s.services != nil && svc.DeletionTimestamp == nil {
		s.services.releaseAll(context.WithoutCancel(ctx), held(svc), ownerOf(svc))
	}
}

// claimFor allocates svc's cluster IP and NodePorts, honouring requested
// values, and returns the records it claimed (alreadyHeld are kept as they
// are). Refusals are 422 with the field that asked for the value.
func (a *serviceAllocator) claimFor(ctx context.Context, svc *api.Service, alreadyHeld []string) ([]string, error) {
	var claimed []string
	owner := ownerOf(svc)
	if svc.Spec.Type == "ExternalName" {
		return nil, nil
	}
	svcRes, _ := api.ResourceForKind("Service")
	switch ip := svc.Spec.ClusterIP; {
	case ip == "None":
	case ip == "":
		got, err := a.allocateIP(ctx, owner)
		if err != nil {
			return claimed, err
		}
		claimed = append(claimed, clusterIPRecord(got))
		svc.Spec.ClusterIP = got
	case !slices.Contains(alreadyHeld, clusterIPRecord(ip)):
		addr, err := netip.ParseAddr(ip)
		if err != nil || !a.inRange(addr) || addr == a.first && owner != "default/skiff" {
			if err == nil && addr == a.first {
				return claimed, invalid(svcRes, svc.Name, "spec.clusterIP", "Invalid value: %q: reserved for the API server's Service default/skiff", ip)
			}
			return claimed, invalid(svcRes, svc.Name, "spec.clusterIP", "Invalid value: %q: provided IP is not in the valid range. The range of valid IPs is %s", ip, a.cidr)
		}
		ok, err := a.claim(ctx, clusterIPRecord(ip), allocClusterIP, owner)
		if err != nil {
			return claimed, err
		}
		if !ok {
			return claimed, invalid(svcRes, svc.Name, "spec.clusterIP", "Invalid value: %q: provided IP is already allocated", ip)
		}
		claimed = append(claimed, clusterIPRecord(ip))
	}
	if svc.Spec.ClusterIP != "None" && svc.Spec.ClusterIP != "" {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	if !needsNodePorts(svc) {
		return claimed, nil
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		field := fmt.Sprintf("spec.ports[%d].nodePort", i)
		if p.NodePort == 0 {
			got, err := a.allocatePort(ctx, owner)
			if err != nil {
				return claimed, err
			}
			claimed = append(claimed, nodePortRecord(got))
			p.NodePort = got
			continue
		}
		name := nodePortRecord(p.NodePort)
		if slices.Contains(alreadyHeld, name) || slices.Contains(claimed, name) {
			continue // kept, or shared by a TCP and a UDP port of this Service
		}
		if p.NodePort < a.portLo || p.NodePort > a.portHi {
			return claimed, invalid(svcRes, svc.Name, field, "Invalid value: %d: provided port is not in the valid range. The range of valid ports is %d-%d", p.NodePort, a.portLo, a.portHi)
		}
		ok, err := a.claim(ctx, name, allocNodePort, owner)
		if err != nil {
			return claimed, err
		}
		if !ok {
			return claimed, invalid(svcRes, svc.Name, field, "Invalid value: %d: provided port is already allocated", p.NodePort)
		}
		claimed = append(claimed, name)
	}
	return claimed, nil
}

func (a *serviceAllocator) releaseAll(ctx context.Context, names []string, owner string) {
	for _, name := range names {
		if err := a.release(ctx, name, owner); err != nil {
			// The repair pass frees it later.
			slog.Warn("apiserver: releasing service allocation", "record", name, "service", owner, "err", err)
		}
	}
}

// repairGrace keeps a record from being freed while the Service that
// claimed it may still be on its way to the store.
const repairGrace = time.Minute

// repair reconciles the records with the stored Services: a Service's
// missing records are recreated, records no Service holds are freed, and a
// value two Services hold is logged (the second one must be recreated).
func (a *serviceAllocator) repair(ctx context.Context) error {
	svcRes, _ := api.ResourceForKind("Service")
	list, err := a.store.List(ctx, svcRes, "", store.ListOptions{})
	if err != nil {
		return fmt.Errorf("service allocation repair: list services: %w", err)
	}
	holders := map[string]string{}
	for _, o := range list.Items {
		svc := o.(*api.Service)
		for _, name := range held(svc) {
			holders[name] = ownerOf(svc)
			kind := allocClusterIP
			if name[0] == 'n' {
				kind = allocNodePort
			}
			ok, err := a.claim(ctx, name, kind, ownerOf(svc))
			if err != nil {
				return fmt.Errorf("service allocation repair: %s: %w", name, err)
			}
			if !ok {
				slog.Error("apiserver: service holds a value allocated to another service; recreate it", "service", ownerOf(svc), "record", name)
			}
		}
	}
	recs, err := a.store.List(ctx, a.cmRes, AllocationNamespace, store.ListOptions{})
	if err != nil {
		return fmt.Errorf("service allocation repair: list records: %w", err)
	}
	for _, o := range recs.Items {
		meta := o.GetObjectMeta()
		owner := o.(*api.ConfigMap).Data[allocOwnerKey]
		if meta.Labels[labelAllocation] == "" || holders[meta.Name] == owner || time.Since(meta.CreationTimestamp) < repairGrace {
			continue
		}
		if err := a.release(ctx, meta.Name, owner); err != nil {
			return fmt.Errorf("service allocation repair: free %s: %w", meta.Name, err)
		}
	}
	return nil
}
