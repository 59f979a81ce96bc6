package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-sh/skiff/core/api"
)

// bootstrapServices repairs the allocations, then makes sure the `skiff`
// Service in `default` holds the range's first address and that its
// Endpoints point at this API server. A repair pass then runs every
// three minutes until the server closes.
func (s *Server) bootstrapServices(ctx context.Context) error {
	if err := s.services.repair(ctx); err != nil {
		return err
	}
	listen := s.listener.Addr().(*net.TCPAddr)
	port := int32(listen.Port)
	svc := &api.Service{ObjectMeta: api.ObjectMeta{Name: "skiff", Namespace: "default", Labels: map[string]string{"component": "apiserver", "provider": "skiff"}},
		Spec: api.ServiceSpec{ClusterIP: s.services.first.String(), Ports: []api.ServicePort{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: intstr.FromInt32(port)}}}}
	svcRes, _ := api.ResourceForKind("Service")
	*svc.GetTypeMeta() = typeMetaOf(svcRes)
	api.SetDefaults(svc)
	_, err := s.withServiceAllocations(ctx, svc, nil, s.store.Create)
	if api.IsAlreadyExists(err) {
		// A restart on another port must retarget the Service.
		err = s.retargetService(ctx, svcRes, svc.Spec.Ports[0])
	}
	if err != nil {
		return fmt.Errorf("apiserver: Service default/skiff: %w", err)
	}
	if err := s.publishEndpoints(ctx, listen); err != nil {
		return err
	}
	go func() {
		tick := time.NewTicker(3 * time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-tick.C:
				if err := s.services.repair(s.ctx); err != nil && s.ctx.Err() == nil {
					slog.Warn("apiserver: service allocation repair failed", "err", err)
				}
			}
		}
	}()
	return nil
}

// retargetService makes the `skiff` Service's https port target want's
// port, writing only when it differs.
func (s *Server) retargetService(ctx context.Context, svcRes *api.Resource, want api.ServicePort) error {
	cur, err := s.store.Get(ctx, svcRes, "default", "skiff")
	if err != nil || slices.ContainsFunc(cur.(*api.Service).Spec.Ports, func(p api.ServicePort) bool { return p.Name == want.Name && p.TargetPort == want.TargetPort }) {
		return err
	}
	_, err = s.store.GuaranteedUpdate(ctx, svcRes, "default", "skiff", func(o api.Object) error {
		ports := o.(*api.Service).Spec.Ports
		for i := range ports {
			if ports[i].Name == want.Name {
				ports[i].TargetPort = want.TargetPort
				return nil
			}
		}
		o.(*api.Service).Spec.Ports = append(ports, want)
		return nil
	})
	return err
}

// publishEndpoints writes the `skiff` Endpoints: one subset with the
// advertised address, or none (replacing a stale one) when pods could not
// reach this server anyway.
func (s *Server) publishEndpoints(ctx context.Context, listen *net.TCPAddr) error {
	addr, warning := endpointAddress(s.cfg.Services.AdvertiseAddress, listen)
	var subsets []api.EndpointSubset
	if addr != "" {
		subsets = []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: addr}},
			Ports: []api.EndpointPort{{Name: "https", Port: int32(listen.Port), Protocol: "TCP"}}}}
	} else {
		slog.Warn(warning)
	}
	epRes, _ := api.ResourceForKind("Endpoints")
	ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "skiff", Namespace: "default"}, Subsets: subsets}
	*ep.GetTypeMeta() = typeMetaOf(epRes)
	if _, err := s.store.Create(ctx, ep); api.IsAlreadyExists(err) {
		_, err = s.store.GuaranteedUpdate(ctx, epRes, "default", "skiff", func(o api.Object) error {
			o.(*api.Endpoints).Subsets = subsets
			return nil
		})
		if err != nil {
			return fmt.Errorf("apiserver: update Endpoints default/skiff: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("apiserver: create Endpoints default/skiff: %w", err)
	}
	return nil
}

// endpointAddress is the IP the `skiff` Endpoints publish: the advertise
// address when set, else the listen IP when it is a specific address pods
// can reach. Otherwise it is "" with a warning saying why and what to do:
// a pod's 127.0.0.1 is its own, and an unspecified listen address names no
// one address (the embedder resolves that case into an advertise address).
func endpointAddress(advertise string, listen *net.TCPAddr) (addr, warning string) {
	switch {
	case advertise != "":
		return advertise, ""
	case listen.IP.IsLoopback():
		return "", fmt.Sprintf("apiserver: pods cannot reach the API server: it listens on loopback %s, so the `skiff` Service in default gets no endpoints; "+
			"listen on a reachable address (e.g. listen: 0.0.0.0:%d) or set advertise-address to this host's IP", listen, listen.Port)
	case listen.IP == nil || listen.IP.IsUnspecified():
		return "", fmt.Sprintf("apiserver: the API server listens on all addresses (%s) and no advertise address is set, so the `skiff` Service in default gets no endpoints; "+
			"set advertise-address to this host's IP that pods can reach", listen)
	}
	return listen.IP.String(), ""
}

// CheckAdvertiseAddress accepts "" (derive it) or an IPv4 address pods
// can reach: the iptables proxy programs IPv4 only. Its error names the
// value, for the caller to prefix with its key.
func CheckAdvertiseAddress(addr string) error {
	if addr == "" {
		return nil
	}
	ip := net.ParseIP(addr)
	switch {
	case ip == nil || ip.To4() == nil:
		return fmt.Errorf("%q is not an IPv4 address (a hostname is not accepted); set this host's IP that pods can reach, e.g. 192.168.1.10", addr)
	case ip.IsLoopback() || ip.IsUnspecified() || ip.IsMulticast():
		return fmt.Errorf("%s is not an address pods can reach; set this host's IP, e.g. 192.168.1.10", addr)
	}
	return nil
}
