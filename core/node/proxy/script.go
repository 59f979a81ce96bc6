package proxy

import (
	"bytes"
	"slices"
	"sort"
	"strings"
)

// minChainsPerCommit is the least number of chains one iptables-restore
// transaction (`*table` ... `COMMIT`) of a split sync declares or deletes.
// iptables-nft 1.8.9 keeps the names of the chains a transaction mentions
// in a sorted linked list (nft-cache.c, cache_chain_list_insert) and walks
// it for every chain declaration, rule and jump target, so a transaction
// costs the square of its chains: 30,000 chains took ~20 s of CPU in one
// transaction and ~1 s in transactions of 500 fed to one iptables-restore.
// A sync that touches fewer chains per table, which is every sync but the
// first and mass changes, stays one transaction.
const minChainsPerCommit = 500

// chainsPerCommit is how many chains a transaction holds when the table
// holds installed rules. Every commit that adds a jump makes the kernel
// walk every chain reachable from the built-in chains (nft_chain_validate,
// ~50 ms for 80,000 rules), which fewer, larger transactions pay less
// often: rewriting 20,000 chains among 80,000 installed rules took ~3.3 s
// of CPU in transactions of 500 and ~1.7 s in transactions of 2,000. With
// nothing installed (a first sync) the walk costs nothing and 500 is best.
func chainsPerCommit(installed map[string][]string) int {
	rules := 0
	for _, r := range installed {
		rules += len(r)
	}
	return max(minChainsPerCommit, rules/40)
}

// restoreScript is an iptables-restore --noflush input that turns the
// installed chains into the wanted ones, touching only the chains that
// differ: a changed chain is declared (which flushes it) and rewritten, a
// stale chain is flushed and deleted, an unchanged one is not mentioned.
type restoreScript struct {
	buf     bytes.Buffer
	written int // chains rewritten
	deleted int // chains deleted
	rules   int // rules written
	commits int // transactions
}

// diff builds the script from installed to want (both table -> chain ->
// rules), with the jumps' edits: removals in a table's first transaction,
// insertions in its last.
//
// When a table has more than chainsPerCommit chains to write or delete,
// the script splits them into several transactions ordered so that every
// intermediate state is a working one: chains are written leaves first (a
// chain after every chain it jumps to, so the dispatch chains, which make
// services reachable, come last and a service is reachable only once its
// endpoint chains are complete), then stale chains are deleted, those that
// jump to others first. What is given up is all-or-nothing: a failure
// midway leaves some services updated and others not, which the next sync
// (it re-reads iptables-save after a failure) completes.
func diff(installed, want tables, jumps jumpEdits) *restoreScript {
	rs := &restoreScript{}
	names := make([]string, 0, len(want)+len(installed))
	for t := range want {
		names = append(names, t)
	}
	for t := range installed {
		if _, ok := want[t]; !ok {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	for _, table := range names {
		have, wanted := installed[table], want[table]
		var changed, stale []string
		for chain, rules := range wanted {
			if cur, ok := have[chain]; !ok || !slices.Equal(cur, rules) {
				changed = append(changed, chain)
			}
		}
		for chain := range have {
			if _, ok := wanted[chain]; !ok {
				stale = append(stale, chain)
			}
		}
		remove, insert := jumps.inTable(table)
		if len(changed) == 0 && len(stale) == 0 && len(remove) == 0 && len(insert) == 0 {
			continue
		}
		rs.written += len(changed)
		rs.deleted += len(stale)
		rs.buf.Grow(scriptSize(table, wanted, changed, stale))
		limit := chainsPerCommit(have)
		if len(changed)+len(stale) <= limit {
			rs.commit(table, wanted, changed, stale, jumpEdits{remove, insert})
			continue
		}
		changed = dependencyOrder(changed, wanted)
		stale = dependencyOrder(stale, have)
		slices.Reverse(stale)     // a chain is deleted before the chains it jumps to
		var commits [][2][]string // chains to write, chains to delete
		for len(changed) > 0 {
			n := min(len(changed), limit)
			commits, changed = append(commits, [2][]string{changed[:n], nil}), changed[n:]
		}
		for len(stale) > 0 {
			n := min(len(stale), limit)
			commits, stale = append(commits, [2][]string{nil, stale[:n]}), stale[n:]
		}
		for i, c := range commits {
			var edits jumpEdits
			if i == 0 {
				edits.remove = remove
			}
			if i == len(commits)-1 {
				edits.insert = insert
			}
			rs.commit(table, wanted, c[0], c[1], edits)
		}
	}
	return rs
}

// inTable returns the edits of one table.
func (j jumpEdits) inTable(table string) (remove, insert []jumpRule) {
	for _, r := range j.remove {
		if r.table == table {
			remove = append(remove, r)
		}
	}
	for _, r := range j.insert {
		if r.table == table {
			insert = append(insert, r)
		}
	}
	return remove, insert
}

// commit writes one transaction: remove jumps, rewrite the write chains in
// their order, insert jumps and delete the del chains. Chains are declared
// in descending name order, so each new name lands at the head of
// iptables-nft's sorted list instead of at its end.
func (rs *restoreScript) commit(table string, wanted map[string][]string, write, del []string, jumps jumpEdits) {
	declared := slices.Concat(write, del)
	slices.SortFunc(declared, func(a, b string) int { return strings.Compare(b, a) })
	b := &rs.buf
	line := func(parts ...string) {
		for _, p := range parts {
			b.WriteString(p)
		}
		b.WriteByte('\n')
	}
	line("*", table)
	for _, chain := range declared {
		line(":", chain, " - [0:0]")
	}
	for _, j := range jumps.remove {
		line("-D ", j.chain, " ", j.rule)
	}
	for _, chain := range write {
		for _, r := range wanted[chain] {
			line("-A ", chain, " ", r)
		}
		rs.rules += len(wanted[chain])
	}
	for _, j := range jumps.insert {
		line("-I ", j.chain, " 1 ", j.rule)
	}
	for _, chain := range del {
		line("-X ", chain)
	}
	line("COMMIT")
	rs.commits++
}

// scriptSize is about how many bytes a table's part of the script takes,
// so the buffer grows once instead of doubling through megabytes.
func scriptSize(table string, wanted map[string][]string, changed, stale []string) int {
	size := 32 * (len(table) + 16)
	for _, chain := range changed {
		size += len(chain) + 12
		for _, r := range wanted[chain] {
			size += len(chain) + len(r) + 5
		}
	}
	for _, chain := range stale {
		size += 2*len(chain) + 16
	}
	return size
}

// dependencyOrder orders chains so that each comes after the chains
// among them it jumps to: a depth-first walk from the chains no other
// one of them jumps to (in descending name order), emitting a chain after
// its targets. A service's SVC chain thus follows its SEP chains
// closely, so a transaction holds whole services and names few chains
// it does not write (each one iptables-nft looks up in the kernel
// separately), and the dispatch chains come last.
func dependencyOrder(chains []string, rules map[string][]string) []string {
	const (
		visiting = 1
		done     = 2
	)
	state := make(map[string]uint8, len(chains))
	for _, c := range chains {
		state[c] = 0
	}
	referenced := make(map[string]bool)
	for _, c := range chains {
		for _, r := range rules[c] {
			if t := jumpTarget(r); t != c {
				if _, ok := state[t]; ok {
					referenced[t] = true
				}
			}
		}
	}
	out := make([]string, 0, len(chains))
	var visit func(c string)
	visit = func(c string) {
		if s, ok := state[c]; !ok || s != 0 {
			return // not among chains, done, or a cycle (the kernel refuses one)
		}
		state[c] = visiting
		for _, r := range rules[c] {
			visit(jumpTarget(r))
		}
		state[c] = done
		out = append(out, c)
	}
	sorted := slices.Clone(chains)
	slices.SortFunc(sorted, func(a, b string) int { return strings.Compare(b, a) })
	for _, c := range sorted {
		if !referenced[c] {
			visit(c)
		}
	}
	for _, c := range sorted {
		visit(c) // chains reached only through a cycle
	}
	return out
}

// jumpTarget is the chain or target a rule in iptables-save syntax jumps
// or goes to. The target follows every match, so the last "-j"/"-g" is it
// even when a quoted comment holds one.
func jumpTarget(rule string) string {
	i := max(strings.LastIndex(rule, " -j "), strings.LastIndex(rule, " -g "))
	switch {
	case i >= 0:
		rule = rule[i+4:]
	case strings.HasPrefix(rule, "-j ") || strings.HasPrefix(rule, "-g "):
		rule = rule[3:]
	default:
		return ""
	}
	target, _, _ := strings.Cut(rule, " ")
	return target
}
