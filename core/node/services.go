package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/node/proxy"
	"github.com/skiff-sh/skiff/core/reconcile"
	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// The cluster DNS Service: selector-less, its Endpoints list every node's
// DNS server (each agent adds its own, keyed by nodeName).
const (
	DNSServiceName = "skiff-dns"
	dnsPortUDP     = "dns"
	dnsPortTCP     = "dns-tcp"
)

// ServicesConfig turns on the node's share of Services: the proxy rules that
// send service IPs and NodePorts to ready endpoints, and a cluster DNS
// server. The concrete plugins come from the caller (core never imports
// plugins).
type ServicesConfig struct {
	// Proxy plans the rules (the proxy plugin); nil installs none.
	Proxy sdkproxy.Plugin
	// DNS starts the node's DNS server on the pod bridge's gateway address
	// (the first address of the node's pod subnet), port 53; nil runs none.
	DNS DNSFactory
	// DNSServiceIP is the cluster IP of the skiff-dns Service (the tenth
	// address of the service CIDR); required with DNS. Unless Config.ClusterDNS
	// is set, ClusterFirst pods get it as their nameserver.
	DNSServiceIP string
}

// DNSServer is a running cluster DNS server (plugins/dns.Server).
type DNSServer interface {
	// Addr is the "ip:port" it answers on, UDP and TCP.
	Addr() string
	// Run serves until ctx ends.
	Run(ctx context.Context) error
}

// DNSFactory binds a DNS server on listen (an address that may not exist
// yet: the bridge appears with the first pod) answering from the informers.
type DNSFactory func(listen string, services, endpoints *reconcile.Informer) (DNSServer, error)

func (c *ServicesConfig) validate() error {
	if c.DNS == nil {
		return nil
	}
	if ip, err := netip.ParseAddr(c.DNSServiceIP); err != nil || !ip.Is4() {
		return fmt.Errorf("services: DNSServiceIP %q is not an IPv4 address (use dns.ServiceIP of the service CIDR, e.g. 10.96.0.10)", c.DNSServiceIP)
	}
	return nil
}

// startServices starts the proxy syncer and the DNS server under ctx; both
// stop with it. The proxy's rules stay installed when it stops, so traffic
// keeps flowing while the agent restarts: TeardownServices removes them.
func (a *Agent) startServices(ctx context.Context) error {
	sc := a.cfg.Services
	if sc == nil || sc.Proxy == nil && sc.DNS == nil {
		return nil
	}
	if err := sc.validate(); err != nil {
		return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
	}
	factory := reconcile.NewSharedInformerFactory(a.client, a.log)
	services := reconcile.InformerFor[*api.Service](factory)
	endpoints := reconcile.InformerFor[*api.Endpoints](factory)
	// Everything that can fail comes first, so a failed start leaves no
	// goroutine behind.
	var syncer *proxy.Syncer
	if sc.Proxy != nil {
		if err := enableBridgeNetfilter(); err != nil {
			return fmt.Errorf("node agent %q: service proxy: %w", a.cfg.NodeName, err)
		}
		var err error
		syncer, err = proxy.NewSyncer(proxy.Config{Planner: sc.Proxy, NodeName: a.cfg.NodeName,
			NodeIPs: a.nodeIPs, ClusterCIDR: a.cfg.ClusterCIDR, Log: a.log})
		if err != nil {
			return fmt.Errorf("node agent %q: %w", a.cfg.NodeName, err)
		}
	}
	var srv DNSServer
	if sc.DNS != nil {
		gw, err := gatewayOf(a.podCIDR)
		if err != nil {
			return fmt.Errorf("node agent %q: cluster DNS: %w", a.cfg.NodeName, err)
		}
		if srv, err = sc.DNS(net.JoinHostPort(gw, "53"), services, endpoints); err != nil {
			return fmt.Errorf("node agent %q: cluster DNS: %w", a.cfg.NodeName, err)
		}
		if len(a.cfg.ClusterDNS) == 0 {
			a.cfg.ClusterDNS = []string{sc.DNSServiceIP}
		}
	}
	if syncer != nil {
		a.goServices(func() {
			if err := syncer.Run(ctx, services, endpoints); err != nil && ctx.Err() == nil {
				a.log.Error("service proxy stopped", "err", err)
			}
		})
	}
	if srv != nil {
		a.goServices(func() {
			if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("cluster DNS stopped", "err", err)
			}
		})
		reg := &dnsRegistration{a: a, addr: srv.Addr(), kick: make(chan struct{}, 1),
			services: reconcile.NewLister[*api.Service](services), endpoints: reconcile.NewLister[*api.Endpoints](endpoints)}
		kick := func(obj api.Object) {
			if m := obj.GetObjectMeta(); m.Namespace == SystemNamespace && m.Name == DNSServiceName {
				reg.trigger()
			}
		}
		h := reconcile.HandlerFuncs{AddFunc: kick, UpdateFunc: func(_, o api.Object) { kick(o) }, DeleteFunc: kick}
		services.AddHandler(h)
		endpoints.AddHandler(h)
		a.goServices(func() { reg.run(ctx, services, endpoints) })
	}
	factory.Start(ctx)
	a.log.Info("services started", "proxy", syncer != nil, "dns", srv != nil, "dnsServiceIP", sc.DNSServiceIP)
	return nil
}

func (a *Agent) goServices(fn func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
}

// gatewayOf is the pod bridge's address: the first address of the subnet.
func gatewayOf(podCIDR string) (string, error) {
	pfx, err := netip.ParsePrefix(podCIDR)
	if err != nil || !pfx.Addr().Is4() {
		return "", fmt.Errorf("pod subnet %q is not an IPv4 CIDR", podCIDR)
	}
	return pfx.Masked().Addr().Next().String(), nil
}

// enableBridgeNetfilter makes bridged traffic traverse iptables. Without
// it, a pod's reply to another pod on the same bridge that reached it
// through a service IP skips conntrack's reverse DNAT, and the client drops
// it (kube-proxy's requirement too).
func enableBridgeNetfilter() error {
	const sysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(sysctl); errors.Is(err, os.ErrNotExist) {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			return fmt.Errorf("load br_netfilter (needed so pods reach services backed by pods on the same bridge): %v: %s", err, out)
		}
	}
	if err := os.WriteFile(sysctl, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("set net.bridge.bridge-nf-call-iptables=1: %w", err)
	}
	return nil
}

// dnsRegistration keeps the skiff-dns Service and this node's address in
// its Endpoints, level-triggered: on start, on every change to either and
// every minute, it compares the cache with what should be and writes only
// a difference.
type dnsRegistration struct {
	a         *Agent
	addr      string // the server's ip:port
	kick      chan struct{}
	services  reconcile.Lister[*api.Service]
	endpoints reconcile.Lister[*api.Endpoints]
}

func (r *dnsRegistration) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *dnsRegistration) run(ctx context.Context, services, endpoints *reconcile.Informer) {
	if !services.WaitForSync(ctx) || !endpoints.WaitForSync(ctx) {
		return
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	backoff := time.Duration(0)
	for {
		if err := r.ensure(ctx); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, 200*time.Millisecond), 30*time.Second)
			r.a.log.Warn("cluster DNS registration failed, retrying", "err", err, "retryIn", backoff)
			time.AfterFunc(backoff, r.trigger)
		} else {
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-tick.C:
		}
	}
}

// ensure makes the Service and this node's endpoint exist.
func (r *dnsRegistration) ensure(ctx context.Context) error {
	want := r.a.cfg.Services.DNSServiceIP
	if svc, ok := r.services.Get(SystemNamespace, DNSServiceName); !ok {
		if _, err := client.Create(ctx, r.a.client, dnsService(want)); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("create Service %s/%s: %w", SystemNamespace, DNSServiceName, err)
		}
	} else if svc.Spec.ClusterIP != want {
		return fmt.Errorf("Service %s/%s has clusterIP %s but pods are told %s: delete the Service (the agent recreates it) or set services.cidr to the cluster's", SystemNamespace, DNSServiceName, svc.Spec.ClusterIP, want)
	}
	host, portStr, err := net.SplitHostPort(r.addr)
	if err != nil {
		return fmt.Errorf("DNS server address %q: %w", r.addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	ep, ok := r.endpoints.Get(SystemNamespace, DNSServiceName)
	if ok && hasDNSAddress(ep, r.a.cfg.NodeName, host, int32(port)) {
		return nil
	}
	return updateDNSEndpoints(ctx, r.a.client, func(ep *api.Endpoints) bool {
		return setDNSAddress(ep, r.a.cfg.NodeName, host, int32(port))
	})
}

func dnsService(clusterIP string) *api.Service {
	return &api.Service{
		ObjectMeta: api.ObjectMeta{Namespace: SystemNamespace, Name: DNSServiceName,
			Labels: map[string]string{"skiff.sh/component": "cluster-dns"}},
		Spec: api.ServiceSpec{ClusterIP: clusterIP, Ports: []api.ServicePort{
			{Name: dnsPortUDP, Protocol: "UDP", Port: 53},
			{Name: dnsPortTCP, Protocol: "TCP", Port: 53},
		}},
	}
}

// dnsSubset is one node's DNS server as an Endpoints subset: subsets with
// different ports cannot merge, and one subset per node keeps a node's
// entry independent of the others'.
func dnsSubset(node, ip string, port int32) api.EndpointSubset {
	return api.EndpointSubset{
		Addresses: []api.EndpointAddress{{IP: ip, NodeName: &node}},
		Ports: []api.EndpointPort{
			{Name: dnsPortUDP, Protocol: "UDP", Port: port},
			{Name: dnsPortTCP, Protocol: "TCP", Port: port},
		},
	}
}

func subsetOf(s api.EndpointSubset, node string) bool {
	return slices.ContainsFunc(s.Addresses, func(a api.EndpointAddress) bool { return a.NodeName != nil && *a.NodeName == node })
}

func hasDNSAddress(ep *api.Endpoints, node, ip string, port int32) bool {
	want := dnsSubset(node, ip, port)
	n := 0
	for _, s := range ep.Subsets {
		if subsetOf(s, node) {
			n++
			if len(s.Addresses) != 1 || s.Addresses[0].IP != ip || !slices.Equal(s.Ports, want.Ports) {
				return false
			}
		}
	}
	return n == 1
}

// setDNSAddress replaces the node's subset; it reports whether ep changed.
func setDNSAddress(ep *api.Endpoints, node, ip string, port int32) bool {
	if hasDNSAddress(ep, node, ip, port) {
		return false
	}
	removeDNSAddress(ep, node)
	ep.Subsets = append(ep.Subsets, dnsSubset(node, ip, port))
	return true
}

// removeDNSAddress drops the node's subset; it reports whether ep changed.
func removeDNSAddress(ep *api.Endpoints, node string) bool {
	n := len(ep.Subsets)
	ep.Subsets = slices.DeleteFunc(ep.Subsets, func(s api.EndpointSubset) bool { return subsetOf(s, node) })
	return len(ep.Subsets) != n
}

// updateDNSEndpoints applies mutate to the skiff-dns Endpoints (created
// when missing), retrying on conflicts with other nodes' agents.
func updateDNSEndpoints(ctx context.Context, c *client.Client, mutate func(*api.Endpoints) bool) error {
	for attempt := 0; ; attempt++ {
		ep, err := client.Get[*api.Endpoints](ctx, c, SystemNamespace, DNSServiceName)
		if api.IsNotFound(err) {
			ep = &api.Endpoints{ObjectMeta: api.ObjectMeta{Namespace: SystemNamespace, Name: DNSServiceName}}
			if !mutate(ep) {
				return nil
			}
			_, err = client.Create(ctx, c, ep)
		} else if err == nil {
			if !mutate(ep) {
				return nil
			}
			_, err = client.Update(ctx, c, ep)
		}
		if err == nil {
			return nil
		}
		if !(api.IsConflict(err) || api.IsAlreadyExists(err)) || attempt >= 10 {
			return fmt.Errorf("update Endpoints %s/%s: %w", SystemNamespace, DNSServiceName, err)
		}
	}
}

// TeardownServices removes what this node's services left behind: every
// proxy chain and jump, and the node's address in the skiff-dns Endpoints.
// Run it when the node leaves the cluster (`skiffd agent --teardown`); it is
// a no-op on a clean node.
func TeardownServices(ctx context.Context, c *client.Client, nodeName string, sc *ServicesConfig) error {
	var errs []error
	if sc.Proxy != nil {
		// An empty plan names the plugin's chain prefix.
		rs, err := sc.Proxy.Rules(ctx, &sdkproxy.Input{NodeName: nodeName})
		if err != nil {
			return fmt.Errorf("service proxy teardown: plan: %w", err)
		}
		syncer, err := proxy.NewSyncer(proxy.Config{Planner: sc.Proxy, NodeName: nodeName})
		if err == nil {
			err = syncer.Teardown(ctx, rs.Prefix)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if sc.DNS != nil && c != nil {
		err := updateDNSEndpoints(ctx, c, func(ep *api.Endpoints) bool {
			return ep.ResourceVersion != "" && removeDNSAddress(ep, nodeName)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster DNS teardown: %w", err))
		}
	}
	return errors.Join(errs...)
}
