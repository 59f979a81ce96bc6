package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	sdkproxy "github.com/skiff-sh/skiff/sdk/proxy"
)

// Config configures a Syncer.
type Config struct {
	// Planner computes the ruleset (the proxy plugin); required.
	Planner sdkproxy.Plugin
	// NodeName and NodeIPs describe this node; NodePorts open on NodeIPs.
	NodeName string
	NodeIPs  []string
	// ClusterCIDR is the pod network (e.g. 10.244.0.0/16).
	ClusterCIDR string
	// MasqueradeBit is the fwmark bit flagging packets to masquerade
	// (default 14).
	MasqueradeBit int
	// Netns, when set, is the path of the network namespace to program
	// (e.g. /var/run/netns/node1); "" programs the caller's.
	Netns string
	// MinSyncInterval coalesces bursts of changes (default 100ms).
	MinSyncInterval time.Duration
	// ResyncPeriod is how often the installed rules are re-read and the
	// jumps checked, repairing changes made behind the syncer's back
	// (default 1 minute).
	ResyncPeriod time.Duration
	// IptablesSave and IptablesRestore name the tools (default from PATH).
	IptablesSave, IptablesRestore string
	Log                           *slog.Logger
}

// Syncer installs proxy rulesets into the node's iptables. Apply is safe
// for concurrent use; calls are serialized.
type Syncer struct {
	cfg Config
	run runner
	log *slog.Logger

	mu sync.Mutex
	// installed is what the owned chains hold, as last read or written;
	// nil means unknown (read iptables-save before the next diff).
	installed    tables
	prefix       string
	jumpsChecked time.Time
	kick         chan struct{}
}

// Stats describe one Apply.
type Stats struct {
	ChainsWritten, ChainsDeleted, RulesWritten int
	// Commits counts the iptables-restore transactions: one per table
	// changed, more when a table changes more chains than one transaction
	// holds cheaply (see diff).
	Commits int
	// JumpsInserted counts the jumps from built-in chains (re)inserted.
	JumpsInserted int
	// FullRead reports that the installed rules were read with
	// iptables-save (first sync, periodic resync, or after a failure).
	FullRead bool
	Duration time.Duration
	// RestoreCPU is the CPU time iptables-restore used (user + system),
	// which unlike Duration does not grow when other work shares the CPUs.
	RestoreCPU time.Duration
}

// NewSyncer checks the configuration and finds the iptables tools. It
// changes nothing until the first Apply.
func NewSyncer(cfg Config) (*Syncer, error) {
	if cfg.Planner == nil {
		return nil, errors.New("proxy syncer: Config.Planner is required (the proxy plugin)")
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = 100 * time.Millisecond
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := runner{netnsPath: cfg.Netns, save: cfg.IptablesSave, restore: cfg.IptablesRestore}
	for _, t := range []struct {
		path *string
		name string
	}{{&r.save, "iptables-save"}, {&r.restore, "iptables-restore"}} {
		if *t.path == "" {
			*t.path = t.name
		}
		path, err := exec.LookPath(*t.path)
		if err != nil {
			return nil, fmt.Errorf("proxy syncer: %s not found: %w (install the iptables package)", *t.path, err)
		}
		*t.path = path
	}
	return &Syncer{cfg: cfg, run: r, log: cfg.Log.With("component", "proxy"), kick: make(chan struct{}, 1)}, nil
}

// Apply makes the node's rules match rs: it diffs rs against the installed
// chains and writes only the difference with one iptables-restore (one
// transaction per table, several when a table changes more chains than
// one transaction holds cheaply: see diff), then makes sure the jumps from
// the built-in chains exist.
// Working rules are never flushed first, so established and new
// connections keep flowing across restarts.
func (s *Syncer) Apply(ctx context.Context, rs *sdkproxy.Ruleset) (Stats, error) {
	start := time.Now()
	want, err := wantedTables(rs)
	if err != nil {
		return Stats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	resync := s.installed == nil || s.prefix != rs.Prefix || time.Since(s.jumpsChecked) >= s.cfg.ResyncPeriod
	err = s.run.inNetns(func() error {
		var jumps jumpEdits
		if resync {
			out, err := s.run.iptablesSave(ctx)
			if err != nil {
				return err
			}
			cur, err := parseSave(out, rs.Prefix)
			if err != nil {
				return err
			}
			s.installed, s.prefix, st.FullRead = cur.chains, rs.Prefix, true
			if jumps.insert, err = missingJumps(rs.Jumps, cur.jumps, cur.chains); err != nil {
				s.installed = nil
				return err
			}
		}
		script := diff(s.installed, want, jumps)
		if script.buf.Len() > 0 {
			cpu, err := s.run.iptablesRestore(ctx, script.buf.Bytes())
			st.RestoreCPU = cpu
			if err != nil {
				s.installed = nil // unknown now: re-read next time
				return err
			}
		}
		s.installed = want
		st.ChainsWritten, st.ChainsDeleted, st.RulesWritten, st.Commits = script.written, script.deleted, script.rules, script.commits
		st.JumpsInserted = len(jumps.insert)
		if resync {
			s.jumpsChecked = time.Now()
		}
		return nil
	})
	st.Duration = time.Since(start)
	return st, err
}

// Teardown removes every chain whose name starts with prefix and every
// jump to them from the built-in chains, with one iptables-restore (the
// jumps go in the first transaction). It works from what iptables-save
// shows, so it also cleans up after a crashed agent.
func (s *Syncer) Teardown(ctx context.Context, prefix string) error {
	if len(prefix) < 2 {
		return fmt.Errorf("proxy teardown: prefix %q is too short (e.g. \"SKIFF-PROXY-\")", prefix)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installed = nil
	return s.run.inNetns(func() error {
		out, err := s.run.iptablesSave(ctx)
		if err != nil {
			return err
		}
		cur, err := parseSave(out, prefix)
		if err != nil {
			return err
		}
		script := diff(cur.chains, tables{}, jumpEdits{remove: cur.jumps})
		if script.buf.Len() == 0 {
			return nil
		}
		_, err = s.run.iptablesRestore(ctx, script.buf.Bytes())
		return err
	})
}

// Installed returns the owned chains as iptables-save shows them now, for
// tests and diagnostics.
func (s *Syncer) Installed(ctx context.Context, prefix string) (map[string]map[string][]string, error) {
	var cur *saved
	err := s.run.inNetns(func() error {
		out, err := s.run.iptablesSave(ctx)
		if err == nil {
			cur, err = parseSave(out, prefix)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return cur.chains, nil
}

// CheckJumps verifies that each of rs's jumps from a built-in chain is
// installed exactly once and recognised in iptables-save's text (an
// unrecognised jump would be re-inserted at every resync).
func (s *Syncer) CheckJumps(ctx context.Context, rs *sdkproxy.Ruleset) error {
	var cur *saved
	err := s.run.inNetns(func() error {
		out, err := s.run.iptablesSave(ctx)
		if err == nil {
			cur, err = parseSave(out, rs.Prefix)
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(cur.jumps) != len(rs.Jumps) {
		return fmt.Errorf("%d jumps installed, want %d: %+v", len(cur.jumps), len(rs.Jumps), cur.jumps)
	}
	missing, err := unmatchedJumps(rs.Jumps, cur.jumps)
	if err != nil {
		return err
	}
	if len(missing) != 0 {
		return fmt.Errorf("jumps not recognised in iptables-save's text: %+v", missing)
	}
	return nil
}
