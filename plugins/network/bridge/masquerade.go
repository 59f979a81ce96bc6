package bridge

import (
	"fmt"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// The node masquerades its pod subnet with one chain instead of the bridge
// plugin's per-pod ipMasq chains: that costs five iptables calls per CNI ADD
// and as many per DEL, which doubled the time to attach a pod.
const masqueradeComment = "skiff: masquerade pod subnet"

// masqueradeChain is the nat chain of a network: SKIFF-MASQ-<network>, cut
// to iptables' 28-character limit.
func masqueradeChain(network string) string {
	name := "SKIFF-MASQ-" + strings.ToUpper(network)
	if len(name) > 28 {
		name = name[:28]
	}
	return name
}

// masqueradeRules: traffic from the pod subnet to anywhere but the subnet
// and multicast leaves with the node's address, as the bridge plugin's
// ipMasq does per pod.
func masqueradeRules(subnet string) [][]string {
	return [][]string{
		{"-d", subnet, "-j", "RETURN"},
		{"-d", "224.0.0.0/4", "-j", "RETURN"},
		{"-j", "MASQUERADE"},
	}
}

func jumpRule(subnet, chain string) []string {
	return []string{"-s", subnet, "-m", "comment", "--comment", masqueradeComment, "-j", chain}
}

// ensureMasquerade installs the subnet's masquerade chain and its jump
// from POSTROUTING; it is idempotent.
func ensureMasquerade(network, subnet string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("masquerade %s: iptables: %w", subnet, err)
	}
	chain := masqueradeChain(network)
	if err := ipt.ClearChain("nat", chain); err != nil {
		return fmt.Errorf("masquerade %s: nat chain %s: %w", subnet, chain, err)
	}
	for _, rule := range masqueradeRules(subnet) {
		if err := ipt.Append("nat", chain, rule...); err != nil {
			return fmt.Errorf("masquerade %s: nat chain %s: %w", subnet, chain, err)
		}
	}
	if err := ipt.AppendUnique("nat", "POSTROUTING", jumpRule(subnet, chain)...); err != nil {
		return fmt.Errorf("masquerade %s: jump from nat POSTROUTING: %w", subnet, err)
	}
	return nil
}

// removeMasquerade deletes the jump and the chain; missing ones are fine.
func removeMasquerade(network, subnet string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("masquerade %s: iptables: %w", subnet, err)
	}
	chain := masqueradeChain(network)
	exists, err := ipt.ChainExists("nat", chain)
	if err != nil || !exists {
		// A jump to a missing chain cannot exist either.
		return err
	}
	if err := ipt.DeleteIfExists("nat", "POSTROUTING", jumpRule(subnet, chain)...); err != nil {
		return fmt.Errorf("remove masquerade %s: %w", subnet, err)
	}
	if err := ipt.ClearAndDeleteChain("nat", chain); err != nil {
		return fmt.Errorf("remove masquerade %s: nat chain %s: %w", subnet, chain, err)
	}
	return nil
}
