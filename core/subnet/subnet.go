// Package subnet leases node pod subnets from the cluster CIDR through the
// store: one ConfigMap per /24 in skiff-system whose creation is the lock
// (AlreadyExists means another node holds it). It keeps the format the node
// agent writes (name podcidr-10-244-3-0-24, label skiff.sh/pod-subnet, data
// node and subnet) and adds renewal (data renewTime) and reclamation: the
// lease of a node whose Node object is gone, or that has not been renewed
// for longer than a grace period, is deleted and its subnet reused.
package subnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// Lease format, shared with core/node.
const (
	Namespace   = "skiff-system"
	namePrefix  = "podcidr-"
	LabelLease  = "skiff.sh/pod-subnet"
	keyNode     = "node"
	keySubnet   = "subnet"
	keyRenewed  = "renewTime"
	PrefixLen   = 24
	minNodeBits = 1 // a cluster CIDR must hold at least 2 node subnets
)

// Config configures an Allocator.
type Config struct {
	// Client reaches the API server; required.
	Client *client.Client
	// ClusterCIDR is carved into /24s (default 10.244.0.0/16).
	ClusterCIDR string
	// ServiceCIDR and NodeNetworks must not overlap the cluster CIDR.
	ServiceCIDR  string
	NodeNetworks []string
	// RenewInterval is how often KeepAlive renews (default 1 minute); Grace
	// how long an unrenewed lease survives (default 10 minutes).
	RenewInterval, Grace time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Allocator hands out and reclaims node subnets.
type Allocator struct {
	cfg     Config
	cluster *net.IPNet
}

// New validates cfg; a bad cluster CIDR is an error before anything is
// leased.
func New(cfg Config) (*Allocator, error) {
	if cfg.Client == nil {
		return nil, errors.New("subnet allocator: client is required")
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = "10.244.0.0/16"
	}
	cluster, err := ValidateClusterCIDR(cfg.ClusterCIDR, cfg.ServiceCIDR, cfg.NodeNetworks)
	if err != nil {
		return nil, err
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Allocator{cfg: cfg, cluster: cluster}, nil
}

// ValidateClusterCIDR checks that the cluster CIDR is IPv4, holds at least
// two /24 node subnets and overlaps neither the service CIDR nor a node
// network.
func ValidateClusterCIDR(clusterCIDR, serviceCIDR string, nodeNetworks []string) (*net.IPNet, error) {
	_, cluster, err := net.ParseCIDR(clusterCIDR)
	if err != nil || cluster.IP.To4() == nil {
		return nil, fmt.Errorf("cluster CIDR %q: must be an IPv4 CIDR such as 10.244.0.0/16", clusterCIDR)
	}
	if ones, _ := cluster.Mask.Size(); ones > PrefixLen-minNodeBits {
		return nil, fmt.Errorf("cluster CIDR %s: too small, must be /%d or larger to hold a /%d per node (10.244.0.0/16 holds 256 nodes)", clusterCIDR, PrefixLen-minNodeBits, PrefixLen)
	}
	others := map[string]string{}
	if serviceCIDR != "" {
		others[serviceCIDR] = "the service CIDR"
	}
	for _, n := range nodeNetworks {
		others[n] = "the node network"
	}
	for cidr, what := range others {
		_, other, err := net.ParseCIDR(cidr)
		if err != nil {
			if ip := net.ParseIP(cidr); ip != nil {
				other = &net.IPNet{IP: ip, Mask: net.CIDRMask(8*len(ip), 8*len(ip))}
			} else {
				return nil, fmt.Errorf("%s %q: must be a CIDR such as 10.96.0.0/12", what, cidr)
			}
		}
		if cluster.Contains(other.IP) || other.Contains(cluster.IP) {
			return nil, fmt.Errorf("cluster CIDR %s overlaps %s %s: pod and %s addresses would be ambiguous; choose disjoint ranges", clusterCIDR, what, cidr, strings.TrimPrefix(what, "the "))
		}
	}
	return cluster, nil
}

// LeaseName is the ConfigMap name of a subnet: podcidr-10-244-3-0-24.
func LeaseName(subnet *net.IPNet) string {
	ones, _ := subnet.Mask.Size()
	return fmt.Sprintf("%s%s-%d", namePrefix, strings.ReplaceAll(subnet.IP.String(), ".", "-"), ones)
}

// subnets enumerates the /24s of the cluster CIDR.
func (a *Allocator) subnets() []*net.IPNet {
	ones, _ := a.cluster.Mask.Size()
	base := a.cluster.IP.To4()
	out := make([]*net.IPNet, 0, 1<<(PrefixLen-ones))
	for i := range 1 << (PrefixLen - ones) {
		ip := net.IPv4(base[0], base[1]+byte(i>>8), base[2]+byte(i), 0).To4()
		out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(PrefixLen, 32)})
	}
	return out
}

// Acquire returns the node's subnet: the one it holds (renewed), the
// requested one, or the first free /24.
func (a *Allocator) Acquire(ctx context.Context, node, requested string) (string, error) {
	held, err := a.leases(ctx)
	if err != nil {
		return "", err
	}
	for _, cm := range held {
		if cm.Data[keyNode] == node && (requested == "" || cm.Data[keySubnet] == requested) {
			return cm.Data[keySubnet], a.Renew(ctx, node, cm.Data[keySubnet])
		}
	}
	candidates := a.subnets()
	if requested != "" {
		_, want, err := net.ParseCIDR(requested)
		if err != nil || want.IP.To4() == nil || !a.cluster.Contains(want.IP) {
			return "", fmt.Errorf("pod subnet %q: must be a /%d of the cluster CIDR %s, such as %s", requested, PrefixLen, a.cluster, candidates[len(candidates)-1])
		}
		candidates = []*net.IPNet{want}
	}
	taken := map[string]bool{}
	for _, cm := range held {
		taken[cm.Name] = true
	}
	for _, s := range candidates {
		if taken[LeaseName(s)] && requested == "" {
			continue
		}
		ok, err := a.claim(ctx, node, s)
		if err != nil {
			return "", err
		}
		if ok {
			return s.String(), nil
		}
	}
	if requested != "" {
		return "", fmt.Errorf("pod subnet %s: leased by another node (configmap %s/%s); choose another or leave it empty", requested, Namespace, LeaseName(candidates[0]))
	}
	return "", fmt.Errorf("pod subnet for node %q: all %d /%d subnets of cluster CIDR %s are leased; widen the cluster CIDR or delete removed nodes", node, len(candidates), PrefixLen, a.cluster)
}

func (a *Allocator) claim(ctx context.Context, node string, s *net.IPNet) (bool, error) {
	cm := &api.ConfigMap{
		ObjectMeta: api.ObjectMeta{Namespace: Namespace, Name: LeaseName(s), Labels: map[string]string{LabelLease: "true"}},
		Data:       map[string]string{keyNode: node, keySubnet: s.String(), keyRenewed: a.cfg.Now().UTC().Format(time.RFC3339)},
	}
	_, err := client.Create(ctx, a.cfg.Client, cm)
	switch {
	case err == nil:
		return true, nil
	case api.IsAlreadyExists(err):
		cur, gerr := client.Get[*api.ConfigMap](ctx, a.cfg.Client, Namespace, cm.Name)
		if gerr != nil {
			return false, fmt.Errorf("pod subnet %s: read lease: %w", s, gerr)
		}
		return cur.Data[keyNode] == node, nil
	default:
		return false, fmt.Errorf("pod subnet %s: create lease %s/%s: %w", s, Namespace, cm.Name, err)
	}
}

// Holder returns the node and subnet a lease ConfigMap records; ok is false
// for a ConfigMap that is not a lease.
func Holder(cm *api.ConfigMap) (node, subnet string, ok bool) {
	if cm.Namespace != Namespace || cm.Labels[LabelLease] == "" {
		return "", "", false
	}
	node, subnet = cm.Data[keyNode], cm.Data[keySubnet]
	return node, subnet, node != "" && subnet != ""
}

func (a *Allocator) leases(ctx context.Context) ([]*api.ConfigMap, error) {
	list, err := client.List[*api.ConfigMap](ctx, a.cfg.Client, Namespace, client.ListOptions{LabelSelector: LabelLease})
	if err != nil {
		return nil, fmt.Errorf("pod subnet leases: list in %s: %w", Namespace, err)
	}
	return list.Items, nil
}

// Renew records that node still holds subnet.
func (a *Allocator) Renew(ctx context.Context, node, subnet string) error {
	_, s, err := net.ParseCIDR(subnet)
	if err != nil {
		return fmt.Errorf("renew pod subnet %q: %w", subnet, err)
	}
	cm, err := client.Get[*api.ConfigMap](ctx, a.cfg.Client, Namespace, LeaseName(s))
	if err != nil {
		return fmt.Errorf("renew pod subnet %s of node %q: %w", subnet, node, err)
	}
	if cm.Data[keyNode] != node {
		return fmt.Errorf("renew pod subnet %s: leased by node %q, not %q", subnet, cm.Data[keyNode], node)
	}
	cm.Data[keyRenewed] = a.cfg.Now().UTC().Format(time.RFC3339)
	if _, err := client.Update(ctx, a.cfg.Client, cm); err != nil {
		return fmt.Errorf("renew pod subnet %s of node %q: %w", subnet, node, err)
	}
	return nil
}

// KeepAlive renews the lease every RenewInterval until ctx ends; failed
// renewals are retried at the next tick and reported to onError.
func (a *Allocator) KeepAlive(ctx context.Context, node, subnet string, onError func(error)) {
	t := time.NewTicker(a.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Renew(ctx, node, subnet); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// Reclaim deletes the leases of nodes whose Node object is gone and of
// leases not renewed for longer than Grace, returning the freed subnets.
// The delete is conditional on the lease being unchanged, so a node that
// renews at the same moment keeps it.
func (a *Allocator) Reclaim(ctx context.Context) ([]string, error) {
	held, err := a.leases(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := client.List[*api.Node](ctx, a.cfg.Client, "", client.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("pod subnet leases: list nodes: %w", err)
	}
	live := map[string]bool{}
	for _, n := range nodes.Items {
		live[n.Name] = true
	}
	var freed []string
	var errs []error
	for _, cm := range held {
		renewed, perr := time.Parse(time.RFC3339, cm.Data[keyRenewed])
		expired := perr == nil && a.cfg.Now().Sub(renewed) > a.cfg.Grace
		if live[cm.Data[keyNode]] && !expired {
			continue
		}
		// A lease of the agent's older format has no renewTime: only a gone
		// node frees it.
		if live[cm.Data[keyNode]] && perr != nil {
			continue
		}
		rv := cm.ResourceVersion
		err := client.Delete[*api.ConfigMap](ctx, a.cfg.Client, Namespace, cm.Name, client.DeleteOptions{Preconditions: &client.Preconditions{ResourceVersion: &rv}})
		switch {
		case err == nil:
			freed = append(freed, cm.Data[keySubnet])
		case api.IsNotFound(err) || api.IsConflict(err):
		default:
			errs = append(errs, fmt.Errorf("reclaim pod subnet %s of node %q: %w", cm.Data[keySubnet], cm.Data[keyNode], err))
		}
	}
	return freed, errors.Join(errs...)
}
