package node

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
)

// Pod subnets are leased from the cluster CIDR through the store: one
// ConfigMap per /24 in skiff-system, whose creation is the lock
// (AlreadyExists means another node holds it). The lease is recorded on
// Node.spec.podCIDR, so network backends that route between nodes read the
// same allocation.
const (
	subnetLeasePrefix = "podcidr-"
	labelSubnetLease  = "skiff.sh/pod-subnet"
	subnetOwnerKey    = "node"
	subnetKey         = "subnet"
	subnetPrefixLen   = 24
)

// subnetLeaseName is the ConfigMap name of a subnet: podcidr-10-244-3-0-24.
func subnetLeaseName(subnet *net.IPNet) string {
	ones, _ := subnet.Mask.Size()
	return subnetLeasePrefix + strings.ReplaceAll(subnet.IP.String(), ".", "-") + fmt.Sprintf("-%d", ones)
}

// subnets enumerates the /24s of an IPv4 cluster CIDR.
func subnets(cidr string) ([]*net.IPNet, error) {
	_, cluster, err := net.ParseCIDR(cidr)
	if err != nil || cluster.IP.To4() == nil {
		return nil, fmt.Errorf("cluster CIDR %q: must be an IPv4 CIDR such as 10.244.0.0/16", cidr)
	}
	ones, _ := cluster.Mask.Size()
	if ones > subnetPrefixLen {
		return nil, fmt.Errorf("cluster CIDR %q: must be /%d or larger to hold per-node /%d subnets", cidr, subnetPrefixLen, subnetPrefixLen)
	}
	n := 1 << (subnetPrefixLen - ones)
	base := cluster.IP.To4()
	out := make([]*net.IPNet, 0, n)
	for i := range n {
		ip := net.IPv4(base[0], base[1]+byte(i>>8), base[2]+byte(i), 0).To4()
		out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(subnetPrefixLen, 32)})
	}
	return out, nil
}

// leaseSubnet returns the node's pod subnet: the one it holds already, the
// requested one, or the first free /24 of the cluster CIDR.
func leaseSubnet(ctx context.Context, c *client.Client, node, clusterCIDR, requested string) (string, error) {
	if err := ensureNamespace(ctx, c, SystemNamespace); err != nil {
		return "", err
	}
	held, err := client.List[*api.ConfigMap](ctx, c, SystemNamespace, client.ListOptions{LabelSelector: labelSubnetLease})
	if err != nil {
		return "", fmt.Errorf("pod subnet for node %q: list leases in %s: %w", node, SystemNamespace, err)
	}
	for _, cm := range held.Items {
		if cm.Data[subnetOwnerKey] == node && (requested == "" || cm.Data[subnetKey] == requested) {
			return cm.Data[subnetKey], nil
		}
	}
	if requested != "" {
		_, subnet, err := net.ParseCIDR(requested)
		if err != nil || subnet.IP.To4() == nil {
			return "", fmt.Errorf("pod subnet %q: must be an IPv4 CIDR such as 10.244.7.0/24", requested)
		}
		ok, err := claimSubnet(ctx, c, node, subnet)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("pod subnet %s: leased by another node (see configmap %s/%s); choose another or leave agent.pod-subnet empty", requested, SystemNamespace, subnetLeaseName(subnet))
		}
		return subnet.String(), nil
	}
	all, err := subnets(clusterCIDR)
	if err != nil {
		return "", err
	}
	for _, subnet := range all {
		ok, err := claimSubnet(ctx, c, node, subnet)
		if err != nil {
			return "", err
		}
		if ok {
			return subnet.String(), nil
		}
	}
	return "", fmt.Errorf("pod subnet for node %q: all %d /%d subnets of cluster CIDR %s are leased; widen agent.cluster-cidr or delete leases of removed nodes in %s", node, len(all), subnetPrefixLen, clusterCIDR, SystemNamespace)
}

// claimSubnet creates the subnet's lease; false means another node has it.
func claimSubnet(ctx context.Context, c *client.Client, node string, subnet *net.IPNet) (bool, error) {
	cm := &api.ConfigMap{
		ObjectMeta: api.ObjectMeta{Namespace: SystemNamespace, Name: subnetLeaseName(subnet), Labels: map[string]string{labelSubnetLease: "true"}},
		Data:       map[string]string{subnetOwnerKey: node, subnetKey: subnet.String()},
	}
	_, err := client.Create(ctx, c, cm)
	switch {
	case err == nil:
		return true, nil
	case api.IsAlreadyExists(err):
		existing, gerr := client.Get[*api.ConfigMap](ctx, c, SystemNamespace, cm.Name)
		if gerr != nil {
			return false, fmt.Errorf("pod subnet %s: read lease: %w", subnet, gerr)
		}
		return existing.Data[subnetOwnerKey] == node, nil
	default:
		return false, fmt.Errorf("pod subnet %s: create lease %s/%s: %w", subnet, SystemNamespace, cm.Name, err)
	}
}

func ensureNamespace(ctx context.Context, c *client.Client, name string) error {
	_, err := client.Create(ctx, c, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}})
	if err != nil && !api.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
