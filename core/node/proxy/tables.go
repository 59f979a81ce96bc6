package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"

	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// tables is the installed state of the chains a ruleset owns:
// table -> chain -> rules (iptables-save syntax, without "-A <chain> ").
type tables map[string]map[string][]string

// jumpRule is a rule of a built-in chain that enters an owned chain, as
// iptables-save prints it (without "-A <chain> ").
type jumpRule struct{ table, chain, rule string }

// saved is what iptables-save shows of the owned chains.
type saved struct {
	chains tables
	jumps  []jumpRule
}

// parseSave reads iptables-save output, keeping the chains whose name
// starts with prefix and the built-in chains' rules that jump to them.
func parseSave(out []byte, prefix string) (*saved, error) {
	s := &saved{chains: tables{}}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "" || line[0] == '#' || line == "COMMIT":
		case line[0] == '*':
			table = line[1:]
		case line[0] == ':':
			name, _, _ := strings.Cut(line[1:], " ")
			if strings.HasPrefix(name, prefix) {
				s.table(table)[name] = s.table(table)[name][:0:0]
			}
		case strings.HasPrefix(line, "-A "):
			chain, rule, ok := strings.Cut(line[3:], " ")
			if !ok {
				return nil, fmt.Errorf("iptables-save line %d: rule without a body: %q", n, line)
			}
			if strings.HasPrefix(chain, prefix) {
				t := s.table(table)
				t[chain] = append(t[chain], rule)
			} else if strings.Contains(rule, "-j "+prefix) {
				s.jumps = append(s.jumps, jumpRule{table: table, chain: chain, rule: rule})
			}
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n, line)
		}
	}
	return s, sc.Err()
}

func (s *saved) table(name string) map[string][]string {
	t := s.chains[name]
	if t == nil {
		t = map[string][]string{}
		s.chains[name] = t
	}
	return t
}

// wantedTables indexes a ruleset's chains, refusing a chain listed twice
// or named outside the ruleset's prefix (the host would never delete it).
func wantedTables(rs *sdkproxy.Ruleset) (tables, error) {
	if len(rs.Prefix) < 2 {
		return nil, fmt.Errorf("proxy ruleset: prefix %q is too short to own chains safely (e.g. \"SKIFF-PROXY-\")", rs.Prefix)
	}
	t := tables{}
	for _, c := range rs.Chains {
		if !strings.HasPrefix(c.Name, rs.Prefix) {
			return nil, fmt.Errorf("proxy ruleset: chain %s %s does not start with the ruleset's prefix %q", c.Table, c.Name, rs.Prefix)
		}
		if c.Table != "nat" && c.Table != "filter" && c.Table != "mangle" && c.Table != "raw" {
			return nil, fmt.Errorf("proxy ruleset: chain %s: unknown table %q", c.Name, c.Table)
		}
		for _, r := range c.Rules {
			if strings.ContainsAny(r, "\n\r") {
				return nil, fmt.Errorf("proxy ruleset: chain %s %s: a rule holds a line break: %q", c.Table, c.Name, r)
			}
		}
		m := t[c.Table]
		if m == nil {
			m = map[string][]string{}
			t[c.Table] = m
		}
		if _, dup := m[c.Name]; dup {
			return nil, fmt.Errorf("proxy ruleset: chain %s %s listed twice", c.Table, c.Name)
		}
		m[c.Name] = c.Rules
	}
	return t, nil
}

// runner executes the iptables tools, inside a network namespace when one
// is set.
type runner struct {
	netnsPath string
	save      string // iptables-save binary
	restore   string // iptables-restore binary
}

// inNetns runs fn on an OS thread that has entered the runner's network
// namespace; commands fn starts inherit it.
func (r *runner) inNetns(fn func() error) error {
	if r.netnsPath == "" {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("proxy: current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(r.netnsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("proxy: network namespace %s: %w", r.netnsPath, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("proxy: enter network namespace %s: %w", r.netnsPath, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked and dies with the goroutine: it must
		// not run other goroutines in the wrong namespace.
		return fmt.Errorf("proxy: leave network namespace %s: %w", r.netnsPath, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// iptablesSave returns iptables-save's output. Call it inside inNetns.
func (r *runner) iptablesSave(ctx context.Context) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.save)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", r.save, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// iptablesRestore feeds script to iptables-restore --noflush (one
// transaction per `*table` ... `COMMIT` block) and returns the CPU time it
// took. Call it inside inNetns.
func (r *runner) iptablesRestore(ctx context.Context, script []byte) (time.Duration, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, r.restore, "--noflush")
	cmd.Stdin = bytes.NewReader(script)
	cmd.Stderr = &stderr
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return cpu, fmt.Errorf("%s --noflush: %w: %s%s", r.restore, err, strings.TrimSpace(stderr.String()), scriptContext(script, stderr.String()))
	}
	return cpu, nil
}

// scriptContext quotes the failing line of a restore script when
// iptables-restore names it ("line 12 failed").
func scriptContext(script []byte, stderr string) string {
	var line int
	if i := strings.Index(stderr, "line "); i >= 0 {
		fmt.Sscanf(stderr[i+5:], "%d", &line)
	}
	if line <= 0 {
		return ""
	}
	lines := strings.Split(string(script), "\n")
	if line > len(lines) {
		return ""
	}
	return fmt.Sprintf(" (line %d: %q)", line, lines[line-1])
}
