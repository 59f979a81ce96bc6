package apiserver

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

// ServiceNetwork configures the addresses Services get. Every allocated
// cluster IP and NodePort is one ConfigMap in AllocationNamespace, named
// after what it holds ("clusterip-10.96.0.10", "nodeport-30080") and
// created with AlreadyExists as the lock, so two Services never share one,
// even when API servers race; allocations survive restarts with the store.
type ServiceNetwork struct {
	// CIDR is the cluster IP range (default 10.96.0.0/12). Its first
	// address belongs to the `skiff` Service in `default`, which reaches
	// the API server; its tenth is conventionally the cluster DNS.
	CIDR string `koanf:"cidr"`
	// NodePortRange is the NodePort range, "first-last" (default
	// 30000-32767).
	NodePortRange string `koanf:"nodePortRange"`
	// AdvertiseAddress is the IPv4 address published in the `skiff`
	// Service's Endpoints, the one pods reach the API server at. Empty
	// means the listen IP when it is a specific non-loopback address; a
	// loopback or unspecified listen address then publishes no endpoints
	// (with a warning), since no pod could use it.
	AdvertiseAddress string `koanf:"advertiseAddress"`
}

// AllocationNamespace holds the allocation records.
const AllocationNamespace = "skiff-system"

// Labels on allocation records.
const (
	labelAllocation = "skiff.sh/allocation" // "cluster-ip" or "node-port"
	allocOwnerKey   = "service"             // data key: "<namespace>/<name>"
	allocClusterIP  = "cluster-ip"
	allocNodePort   = "node-port"
)

// serviceAllocator hands out cluster IPs and NodePorts.
type serviceAllocator struct {
	store          store.Store
	cidr           netip.Prefix
	first, last    netip.Addr // usable: network and broadcast addresses excluded
	size           int64      // usable addresses
	staticBand     int64      // low addresses left to explicit requests first
	portLo, portHi int32
	cmRes          *api.Resource
}

func newServiceAllocator(st store.Store, cfg ServiceNetwork) (*serviceAllocator, error) {
	if cfg.CIDR == "" {
		cfg.CIDR = "10.96.0.0/12"
	}
	if cfg.NodePortRange == "" {
		cfg.NodePortRange = "30000-32767"
	}
	pfx, err := netip.ParsePrefix(cfg.CIDR)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 29 {
		return nil, fmt.Errorf("apiserver: services.cidr: %q must be an IPv4 CIDR of at least 8 addresses, e.g. 10.96.0.0/12", cfg.CIDR)
	}
	pfx = pfx.Masked()
	a := &serviceAllocator{store: st, cidr: pfx, first: pfx.Addr().Next()}
	a.size = int64(1)<<(32-pfx.Bits()) - 2
	a.last = addrAt(pfx.Addr(), a.size)
	a.staticBand = min(max(16, a.size/16), 256, a.size/2) // as Kubernetes, leaving small ranges an upper half
	lo, hi, ok := strings.Cut(cfg.NodePortRange, "-")
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return nil, fmt.Errorf("apiserver: services.nodePortRange: %q must be \"first-last\" within 1-65535, e.g. 30000-32767", cfg.NodePortRange)
	}
	a.portLo, a.portHi = int32(l), int32(h)
	if err := CheckAdvertiseAddress(cfg.AdvertiseAddress); err != nil {
		return nil, fmt.Errorf("apiserver: services.advertiseAddress: %w", err)
	}
	a.cmRes, _ = api.ResourceForKind("ConfigMap")
	return a, nil
}

// addrAt is base + n.
func addrAt(base netip.Addr, n int64) netip.Addr {
	v := new(big.Int).SetBytes(base.AsSlice())
	v.Add(v, big.NewInt(n))
	b := v.FillBytes(make([]byte, 4))
	return netip.AddrFrom4([4]byte(b))
}

// IPAt returns the n-th usable address of the range (1 is the first).
func (a *serviceAllocator) ipAt(n int64) netip.Addr { return addrAt(a.cidr.Addr(), n) }

func (a *serviceAllocator) inRange(ip netip.Addr) bool {
	return a.cidr.Contains(ip) && ip.Compare(a.first) >= 0 && ip.Compare(a.last) <= 0
}

func clusterIPRecord(ip string) string { return "clusterip-" + ip }
func nodePortRecord(port int32) string { return "nodeport-" + strconv.Itoa(int(port)) }
func ownerOf(svc *api.Service) string  { return svc.Namespace + "/" + svc.Name }

// claim creates the record name for owner; it reports false when another
// owner holds it. A record the same owner already holds is claimed again
// (a retried request, or the repair of a record the store kept).
func (a *serviceAllocator) claim(ctx context.Context, name, kind, owner string) (bool, error) {
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: AllocationNamespace,
		Labels: map[string]string{labelAllocation: kind}}, Data: map[string]string{allocOwnerKey: owner}}
	*cm.GetTypeMeta() = typeMetaOf(a.cmRes)
	_, err := a.store.Create(ctx, cm)
	if err == nil {
		return true, nil
	}
	if !api.IsAlreadyExists(err) {
		return false, err
	}
	cur, err := a.store.Get(ctx, a.cmRes, AllocationNamespace, name)
	if api.IsNotFound(err) {
		return a.claim(ctx, name, kind, owner) // released meanwhile
	}
	if err != nil {
		return false, err
	}
	return cur.(*api.ConfigMap).Data[allocOwnerKey] == owner, nil
}

// release deletes a record if owner still holds it.
func (a *serviceAllocator) release(ctx context.Context, name, owner string) error {
	cur, err := a.store.Get(ctx, a.cmRes, AllocationNamespace, name)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.(*api.ConfigMap).Data[allocOwnerKey] != owner {
		return nil
	}
	_, err = a.store.Delete(ctx, a.cmRes, AllocationNamespace, name, store.DeleteOptions{UID: cur.GetObjectMeta().UID})
	if api.IsNotFound(err) || api.IsConflict(err) {
		return nil
	}
	return err
}

// allocateIP claims a free cluster IP for owner: a random one above the
// static band, then the band, then a scan of the whole range.
func (a *serviceAllocator) allocateIP(ctx context.Context, owner string) (string, error) {
	try := func(n int64) (string, bool, error) {
		ip := a.ipAt(n).String()
		ok, err := a.claim(ctx, clusterIPRecord(ip), allocClusterIP, owner)
		return ip, ok, err
	}
	for range 16 {
		n := a.staticBand + 1 + rand.Int64N(max(a.size-a.staticBand, 1))
		if n > a.size {
			continue
		}
		if ip, ok, err := try(n); err != nil || ok {
			return ip, err
		}
	}
	used, err := a.records(ctx, allocClusterIP)
	if err != nil {
		return "", err
	}
	// Scan the dynamic band from a random point, then the static band.
	upper := a.size - a.staticBand
	start := rand.Int64N(max(upper, 1))
	for i := range a.size {
		n := a.staticBand + 1 + (start+i)%max(upper, 1)
		if i >= upper {
			n = i - upper + 1
		}
		if n == 1 || used[clusterIPRecord(a.ipAt(n).String())] != "" {
			continue // the first address is the API server's
		}
		if ip, ok, err := try(n); err != nil || ok {
			return ip, err
		}
	}
	return "", api.NewStatus(api.ReasonInternalError, "no cluster IP left in %s: delete unused Services or configure a larger services.cidr", a.cidr)
}

// allocatePort claims a free NodePort for owner.
func (a *serviceAllocator) allocatePort(ctx context.Context, owner string) (int32, error) {
	span := int64(a.portHi-a.portLo) + 1
	for range 16 {
		p := a.portLo + int32(rand.Int64N(span))
		if ok, err := a.claim(ctx, nodePortRecord(p), allocNodePort, owner); err != nil || ok {
			return p, err
		}
	}
	used, err := a.records(ctx, allocNodePort)
	if err != nil {
		return 0, err
	}
	start := rand.Int64N(span)
	for i := range span {
		p := a.portLo + int32((start+i)%span)
		if used[nodePortRecord(p)] != "" {
			continue
		}
		if ok, err := a.claim(ctx, nodePortRecord(p), allocNodePort, owner); err != nil || ok {
			return p, err
		}
	}
	return 0, api.NewStatus(api.ReasonInternalError, "no NodePort left in %d-%d: delete unused NodePort Services or widen services.nodePortRange", a.portLo, a.portHi)
}

// records lists the allocation records of a kind: name -> owner.
func (a *serviceAllocator) records(ctx context.Context, kind string) (map[string]string, error) {
	res, err := a.store.List(ctx, a.cmRes, AllocationNamespace, store.ListOptions{
		FieldFilter: func(o api.Object) bool { return o.GetObjectMeta().Labels[labelAllocation] == kind },
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(res.Items))
	for _, o := range res.Items {
		out[o.GetObjectMeta().Name] = o.(*api.ConfigMap).Data[allocOwnerKey]
	}
	return out, nil
}
