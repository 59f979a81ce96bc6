package fabric

import (
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/skiff-sh/skiff/sdk/network"
)

// Every rule the fabric writes carries a comment naming its position and a
// hash of its arguments: comparing the comments of a chain's listing with
// the planned ones tells whether the chain is exactly as planned, without
// depending on how iptables prints a rule back.
const commentPrefix = "skiff-fabric-"

var commentRe = regexp.MustCompile(`--comment "?(` + commentPrefix + `[0-9a-z-]+)"?`)

func ruleComment(i int, r network.Rule) string {
	h := fnv.New32a()
	h.Write([]byte(strings.Join(r.Args, "\x00")))
	return fmt.Sprintf("%s%d-%08x", commentPrefix, i, h.Sum32())
}

// chainFor is the fabric's chain hooked into a built-in chain.
func (f *Fabric) chainFor(builtin string) string { return f.cfg.ChainPrefix + builtin }

func (f *Fabric) jumpSpec(builtin string) []string {
	return []string{"-m", "comment", "--comment", commentPrefix + "hook", "-j", f.chainFor(builtin)}
}

// syncRules makes the fabric's chains hold exactly the planned rules, each
// hooked from its built-in chain, and removes chains no longer planned.
func (f *Fabric) syncRules(d *desired, ch *Changes) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	var errs []error
	for _, table := range []string{"filter", "nat", "mangle"} {
		chains, err := ipt.ListChains(table)
		if err != nil {
			errs = append(errs, fmt.Errorf("iptables: list %s chains: %w", table, err))
			continue
		}
		planned := map[string]bool{}
		for _, builtin := range hookable[table] {
			rules := d.rules[hook{table, builtin}]
			if len(rules) == 0 {
				continue
			}
			chain := f.chainFor(builtin)
			planned[chain] = true
			if err := f.syncChain(ipt, table, builtin, rules, slices.Contains(chains, chain), ch); err != nil {
				errs = append(errs, fmt.Errorf("iptables: %s %s: %w", table, chain, err))
			}
		}
		for _, chain := range chains {
			if !strings.HasPrefix(chain, f.cfg.ChainPrefix) || planned[chain] {
				continue
			}
			builtin := strings.TrimPrefix(chain, f.cfg.ChainPrefix)
			if slices.Contains(hookable[table], builtin) {
				if err := ipt.DeleteIfExists(table, builtin, f.jumpSpec(builtin)...); err != nil {
					errs = append(errs, fmt.Errorf("iptables: %s %s: delete jump to %s: %w", table, builtin, chain, err))
					continue
				}
			}
			if err := ipt.ClearAndDeleteChain(table, chain); err != nil {
				errs = append(errs, fmt.Errorf("iptables: %s: delete chain %s: %w", table, chain, err))
				continue
			}
			ch.add("delete iptables chain %s %s", table, chain)
		}
	}
	return errors.Join(errs...)
}

func (f *Fabric) syncChain(ipt *iptables.IPTables, table, builtin string, rules []network.Rule, exists bool, ch *Changes) error {
	chain := f.chainFor(builtin)
	want := make([]string, len(rules))
	for i, r := range rules {
		want[i] = ruleComment(i, r)
	}
	var have []string
	if exists {
		lines, err := ipt.List(table, chain)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		for _, line := range lines {
			if !strings.HasPrefix(line, "-A ") {
				continue
			}
			m := commentRe.FindStringSubmatch(line)
			if m == nil {
				have = append(have, line) // a rule someone else added: rewrite
				continue
			}
			have = append(have, m[1])
		}
	} else {
		if err := ipt.NewChain(table, chain); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		ch.add("add iptables chain %s %s", table, chain)
	}
	if !slices.Equal(have, want) {
		if err := ipt.ClearChain(table, chain); err != nil {
			return fmt.Errorf("clear: %w", err)
		}
		for i, r := range rules {
			spec := append(slices.Clone(r.Args), "-m", "comment", "--comment", want[i])
			if err := ipt.Append(table, chain, spec...); err != nil {
				return fmt.Errorf("rule %q: %w", strings.Join(r.Args, " "), err)
			}
		}
		ch.add("write iptables chain %s %s (%d rules)", table, chain, len(rules))
	}
	ok, err := ipt.Exists(table, builtin, f.jumpSpec(builtin)...)
	if err != nil {
		return fmt.Errorf("check jump from %s: %w", builtin, err)
	}
	if !ok {
		if err := ipt.Insert(table, builtin, 1, f.jumpSpec(builtin)...); err != nil {
			return fmt.Errorf("insert jump from %s: %w", builtin, err)
		}
		ch.add("add iptables jump %s %s -> %s", table, builtin, chain)
	}
	return nil
}
