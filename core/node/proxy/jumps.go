package proxy

import (
	"fmt"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// jumpEdits are rules of built-in chains that enter the owned chains: the
// script removes them before it changes any owned chain and inserts them
// (at the top of their chain) after it has written every owned chain, so
// a jump never points at a chain not yet complete, and the kernel checks
// the newly reachable chains once, in the last commit, instead of once per
// insertion.
type jumpEdits struct{ remove, insert []jumpRule }

// missingJumps returns the jumps the built-in chains lack, given the jumps
// iptables-save showed (have), as rules for the restore script. A jump is
// recognised by its text as iptables-save prints it; one not recognised is
// checked with `iptables -C` before it is inserted, so a difference in
// formatting can never add a duplicate at every resync. A jump to a chain
// not installed (in installed) is missing without asking.
func missingJumps(jumps []sdkproxy.Jump, have []jumpRule, installed tables) ([]jumpRule, error) {
	missing, err := unmatchedJumps(jumps, have)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	var ipt *iptables.IPTables
	var out []jumpRule
	for _, j := range missing {
		if _, ok := installed[j.table][jumpTarget(j.rule)]; !ok {
			out = append(out, j.jumpRule)
			continue
		}
		if ipt == nil {
			if ipt, err = iptables.New(); err != nil {
				return nil, fmt.Errorf("proxy: iptables: %w", err)
			}
		}
		ok, err := ipt.Exists(j.table, j.chain, j.args...)
		if err != nil {
			return nil, fmt.Errorf("proxy: check jump in %s %s: %w", j.table, j.chain, err)
		}
		if !ok {
			out = append(out, j.jumpRule)
		}
	}
	return out, nil
}

type unmatchedJump struct {
	jumpRule
	args []string
}

// unmatchedJumps returns the jumps whose text is not among have, in the
// order given.
func unmatchedJumps(jumps []sdkproxy.Jump, have []jumpRule) ([]unmatchedJump, error) {
	var out []unmatchedJump
	for _, j := range jumps {
		rule, err := restoreArgs(j.Args)
		if err != nil {
			return nil, fmt.Errorf("proxy ruleset: jump into %s %s: %w", j.Table, j.Chain, err)
		}
		if j.Table == "" || j.Chain == "" || strings.ContainsAny(j.Table+j.Chain, " \"\n") {
			return nil, fmt.Errorf("proxy ruleset: jump %q: table %q and chain %q must be plain names (e.g. nat PREROUTING)", rule, j.Table, j.Chain)
		}
		found := false
		for _, h := range have {
			if h.table == j.Table && h.chain == j.Chain && (h.rule == rule || unquoted(h.rule) == unquoted(rule)) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, unmatchedJump{jumpRule{table: j.Table, chain: j.Chain, rule: rule}, j.Args})
		}
	}
	return out, nil
}

// restoreArgs writes iptables arguments as one iptables-restore rule,
// quoting those that hold anything but plain characters (as
// iptables-save quotes a comment with spaces).
func restoreArgs(args []string) (string, error) {
	var b strings.Builder
	for i, a := range args {
		if strings.ContainsAny(a, "\"'\\\n\r") {
			return "", fmt.Errorf("argument %q holds a quote, backslash or line break", a)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.IndexFunc(a, needsQuote) >= 0 {
			b.WriteString(`"` + a + `"`)
		} else {
			b.WriteString(a)
		}
	}
	return b.String(), nil
}

func needsQuote(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:!,=+", r))
}

func unquoted(rule string) string { return strings.ReplaceAll(rule, `"`, "") }
