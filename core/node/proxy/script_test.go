package proxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// commitsOf splits a restore script into its transactions' lines.
func commitsOf(t *testing.T, script string) [][]string {
	t.Helper()
	var out [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSuffix(script, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			cur = []string{l}
		case l == "COMMIT":
			out = append(out, cur)
			cur = nil
		default:
			if cur == nil {
				t.Fatalf("line outside a transaction: %q", l)
			}
			cur = append(cur, l)
		}
	}
	return out
}

func TestDiffWritesOnlyChangesInOneTransaction(t *testing.T) {
	installed := tables{"nat": {
		"P-TOP":     {"-j P-SVC-A"},
		"P-SVC-A":   {"-j P-SEP-OLD"},
		"P-SEP-OLD": {"-j DNAT --to-destination 10.0.0.1:80"},
		"P-SAME":    {"-j RETURN"},
	}}
	want := tables{"nat": {
		"P-TOP":     {"-j P-SVC-A"},
		"P-SVC-A":   {"-j P-SEP-NEW"},
		"P-SEP-NEW": {"-j DNAT --to-destination 10.0.0.2:80"},
		"P-SAME":    {"-j RETURN"},
	}}
	jumps := jumpEdits{insert: []jumpRule{{table: "nat", chain: "PREROUTING", rule: "-j P-TOP"}}}
	rs := diff(installed, want, jumps)
	got := commitsOf(t, rs.buf.String())
	wantLines := [][]string{{
		"*nat",
		":P-SVC-A - [0:0]", ":P-SEP-OLD - [0:0]", ":P-SEP-NEW - [0:0]", // descending
		"-A P-SVC-A -j P-SEP-NEW",
		"-A P-SEP-NEW -j DNAT --to-destination 10.0.0.2:80",
		"-I PREROUTING 1 -j P-TOP",
		"-X P-SEP-OLD",
	}}
	// Chains within the transaction may come in any order: compare the
	// -A lines as a set and everything else in place.
	if len(got) != 1 || !slices.Equal(got[0][:4], wantLines[0][:4]) || !slices.Equal(got[0][6:], wantLines[0][6:]) ||
		!sameSet(got[0][4:6], wantLines[0][4:6]) {
		t.Fatalf("script:\n%s\nwant one transaction:\n%s", rs.buf.String(), strings.Join(wantLines[0], "\n"))
	}
	if rs.written != 2 || rs.deleted != 1 || rs.rules != 2 || rs.commits != 1 {
		t.Fatalf("counts: %+v", rs)
	}
	if again := diff(want, want, jumpEdits{}); again.buf.Len() != 0 {
		t.Fatalf("nothing changed, yet:\n%s", again.buf.String())
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// servicesTable builds a kube-proxy-shaped table, P-M-TOP -> P-A-SVC-i ->
// P-Z-SEP-i-{0,1}, named so that neither name order is dependency order.
func servicesTable(n int, epSuffix string) map[string][]string {
	t := map[string][]string{}
	var top []string
	for i := range n {
		svc := fmt.Sprintf("P-A-SVC-%05d", i)
		top = append(top, "-d 10.96.0.1/32 -m comment --comment \"-j P-FAKE "+epSuffix+"\" -j "+svc)
		for k := range 2 {
			sep := fmt.Sprintf("P-Z-SEP-%05d-%d%s", i, k, epSuffix)
			t[svc] = append(t[svc], "-j "+sep)
			t[sep] = []string{"-j DNAT --to-destination 10.0.0.1:80"}
		}
	}
	t["P-M-TOP"] = top
	return t
}

func TestDiffSplitsLargeSyncsSoEveryStepWorks(t *testing.T) {
	const n = 400 // 1,201 chains: three transactions' worth and more
	old := tables{"nat": servicesTable(n, "a")}
	want := tables{"nat": servicesTable(n, "b")} // every SEP renamed, so every SVC rewritten and every old SEP stale
	jumps := jumpEdits{
		remove: []jumpRule{{table: "nat", chain: "OUTPUT", rule: "-j P-OLD"}},
		insert: []jumpRule{{table: "nat", chain: "PREROUTING", rule: "-j P-TOP"}},
	}
	rs := diff(old, want, jumps)
	commits := commitsOf(t, rs.buf.String())
	if len(commits) < 4 || rs.commits != len(commits) {
		t.Fatalf("%d chains to write and %d to delete in %d transactions", rs.written, rs.deleted, len(commits))
	}
	exists := map[string]bool{} // chains present after each transaction
	for c := range old["nat"] {
		exists[c] = true
	}
	written := map[string]bool{}
	for i, lines := range commits {
		// A transaction is atomic: what it writes counts as written for
		// all of its lines.
		for _, l := range lines {
			if f := strings.Fields(l); f[0] == "-A" {
				written[f[1]] = true
			}
		}
		declared := 0
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			switch f[0][:2] {
			case ":P":
				declared++
				exists[f[0][1:]] = true
			case "-A":
				if target := jumpTarget(strings.Join(f[2:], " ")); strings.HasPrefix(target, "P-") && !written[target] && target != f[1] {
					// The target must be complete: written in this or an
					// earlier transaction, or unchanged.
					if _, unchanged := old["nat"][target]; !unchanged || !slices.Equal(old["nat"][target], want["nat"][target]) {
						t.Fatalf("transaction %d: %s jumps to %s before it is written", i, f[1], target)
					}
				}
			case "-X":
				for c, rules := range want["nat"] {
					if written[c] || slices.Equal(old["nat"][c], rules) {
						continue
					}
					t.Fatalf("transaction %d deletes %s before %s, which may jump to it, is rewritten", i, f[1], c)
				}
				delete(exists, f[1])
			case "-I":
				if i != len(commits)-1 {
					t.Fatalf("jump inserted in transaction %d of %d: services reachable before all are written", i, len(commits))
				}
			case "-D":
				if i != 0 {
					t.Fatalf("jump removed in transaction %d, not the first", i)
				}
			}
		}
		if limit := chainsPerCommit(old["nat"]); declared > limit {
			t.Fatalf("transaction %d declares %d chains, more than %d", i, declared, limit)
		}
	}
	for c := range want["nat"] {
		if !exists[c] {
			t.Errorf("chain %s missing at the end", c)
		}
	}
	for c := range exists {
		if _, ok := want["nat"][c]; !ok {
			t.Errorf("stale chain %s left at the end", c)
		}
	}
	if rs.written != n*3+1 || rs.deleted != n*2 {
		t.Fatalf("%d chains written, %d deleted; want %d and %d", rs.written, rs.deleted, n*3+1, n*2)
	}
	// The dispatch chain, which makes services reachable, is written last.
	var lastWrite []string
	for _, lines := range commits {
		if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "-A ") }) {
			lastWrite = lines
		}
	}
	if !slices.ContainsFunc(lastWrite, func(l string) bool { return strings.HasPrefix(l, "-A P-M-TOP ") }) {
		t.Fatal("P-M-TOP is not written in the last transaction that writes chains")
	}
}

func TestLargerTransactionsOverLargerInstalledTables(t *testing.T) {
	if got := chainsPerCommit(nil); got != minChainsPerCommit {
		t.Fatalf("nothing installed: %d chains per transaction, want %d", got, minChainsPerCommit)
	}
	installed := servicesTable(10000, "a") // 50,000 rules
	if got := chainsPerCommit(installed); got != 1250 {
		t.Fatalf("50,000 rules installed: %d chains per transaction, want 1250", got)
	}
	// A change of 800 chains among them stays one transaction.
	want := map[string][]string{}
	for c, r := range installed {
		want[c] = r
	}
	for i := range 400 {
		want[fmt.Sprintf("P-A-SVC-%05d", i)] = []string{"-j RETURN"}
		want[fmt.Sprintf("P-Z-SEP-%05d-0a", i)] = []string{"-j RETURN"}
	}
	if rs := diff(tables{"nat": installed}, tables{"nat": want}, jumpEdits{}); rs.commits != 1 || rs.written != 800 {
		t.Fatalf("800 chains changed among 50,000 rules: %d chains in %d transactions", rs.written, rs.commits)
	}
}

func TestJumpTarget(t *testing.T) {
	for rule, want := range map[string]string{
		"-j P-SVC-A":               "P-SVC-A",
		"-s 10.0.0.1/32 -j P-MARK": "P-MARK",
		`-m comment --comment "x -j NOT" -j DNAT --to-destination 1.2.3.4:80`: "DNAT",
		"-g P-GOTO":                "P-GOTO",
		"-p tcp -m tcp --dport 80": "",
	} {
		if got := jumpTarget(rule); got != want {
			t.Errorf("jumpTarget(%q) = %q, want %q", rule, got, want)
		}
	}
}

func TestJumpsAreMatchedAsIptablesSavePrintsThem(t *testing.T) {
	jumps := []sdkproxy.Jump{
		{Table: "nat", Chain: "PREROUTING", Args: []string{"-m", "comment", "--comment", "skiff service portals", "-j", "P-TOP"}},
		{Table: "filter", Chain: "INPUT", Args: []string{"-m", "conntrack", "--ctstate", "NEW", "-j", "P-REJECTS"}},
	}
	have := []jumpRule{{table: "nat", chain: "PREROUTING", rule: `-m comment --comment "skiff service portals" -j P-TOP`}}
	missing, err := unmatchedJumps(jumps, have)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].chain != "INPUT" || missing[0].rule != "-m conntrack --ctstate NEW -j P-REJECTS" {
		t.Fatalf("missing: %+v", missing)
	}
	if _, err := unmatchedJumps([]sdkproxy.Jump{{Table: "nat", Chain: "OUTPUT", Args: []string{"--comment", `a" -j ACCEPT`}}}, nil); err == nil {
		t.Fatal("a quote in a jump's arguments was accepted")
	}
}
