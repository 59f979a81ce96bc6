package bridge

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func natRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	return string(out)
}

// Pods attach in parallel, each with its own address, and the node
// masquerades the subnet with one chain instead of a chain per pod.
func TestParallelAttachAndNodeMasquerade(t *testing.T) {
	n := testNetwork(t)
	ctx := context.Background()
	const pods = 8
	ips := make([]string, pods)
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := n.Attach(ctx, PodRef{UID: fmt.Sprintf("2f0e0d0c-aaaa-4bbb-8ccc-%012d", i), Namespace: "default", Name: fmt.Sprint("p", i)})
			if err != nil {
				errs <- err
				return
			}
			ips[i] = a.IP.String()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ip := range ips {
		if seen[ip] {
			t.Fatalf("two pods got %s: %v", ip, ips)
		}
		seen[ip] = true
	}
	rules := natRules(t)
	chain := masqueradeChain(n.cfg.Network)
	jump := fmt.Sprintf("-A POSTROUTING -s %s -m comment --comment %q -j %s", n.cfg.Subnet, masqueradeComment, chain)
	if !strings.Contains(rules, jump) || !strings.Contains(rules, "-A "+chain+" -j MASQUERADE") {
		t.Fatalf("nat table lacks the subnet's masquerade (%q and its chain):\n%s", jump, rules)
	}
	for _, ip := range ips {
		if strings.Contains(rules, ip+"/32") {
			t.Errorf("nat table has a per-pod rule for %s:\n%s", ip, rules)
		}
	}
	if err := n.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if rules := natRules(t); strings.Contains(rules, chain) {
		t.Fatalf("teardown left the masquerade chain %s:\n%s", chain, rules)
	}
}
