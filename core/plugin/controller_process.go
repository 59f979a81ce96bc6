package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin/controllerproc"
	"github.com/skiff-sh/skiff/sdk/process"
)

// ControllerProcessSpec is a controller run as its own binary
// (skiffd's `process-controllers:` entries).
type ControllerProcessSpec struct {
	Name string
	Path string
	// SHA256 pins the binary (hex); empty runs whatever is at Path.
	SHA256 string
	// Args reach the controller as JSON.
	Args map[string]any
}

// Validate checks the entry and the binary it names, so a bad entry stops
// skiffd at start rather than failing later on the leader.
func (s ControllerProcessSpec) Validate() error {
	if s.Name == "" {
		return errors.New("name: must be set, e.g. name: owner-label")
	}
	if s.Path == "" || !filepath.IsAbs(s.Path) {
		return fmt.Errorf("%q: path: must be an absolute path to the controller binary, got %q", s.Name, s.Path)
	}
	info, err := os.Stat(s.Path)
	if err != nil {
		return fmt.Errorf("%q: path: %w", s.Name, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%q: path: %s is not an executable file", s.Name, s.Path)
	}
	if s.SHA256 != "" {
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("%q: sha256: %q is not 64 hex digits (get it with sha256sum %s)", s.Name, s.SHA256, s.Path)
		}
		if sum, err := fileSHA256(s.Path); err != nil || sum != s.SHA256 {
			return fmt.Errorf("%q: %w", s.Name, checksumError(s.pluginSpec()))
		}
	}
	if _, err := json.Marshal(s.Args); err != nil {
		return fmt.Errorf("%q: args: %w", s.Name, err)
	}
	return nil
}

func (s ControllerProcessSpec) pluginSpec() *Spec {
	return &Spec{Name: s.Name, Process: s.Path, SHA256: s.SHA256}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// States of a controller process.
const (
	ControllerStopped    = "stopped"
	ControllerRunning    = "running"
	ControllerRestarting = "restarting"
	ControllerFailing    = "failing"
)

// ControllerProcessStatus is what `skiff plugins` shows of a process.
type ControllerProcessStatus struct {
	State     string
	PID       int
	Restarts  int
	LastError string
}

// controllerStopTimeout bounds a clean stop: the controller's own grace
// plus the round trip.
const controllerStopTimeout = 7 * time.Second

// ControllerProcess runs one controller binary through go-plugin: one
// handshake, AutoMTLS, the optional SHA-256 pin checked by go-plugin at
// every start, restarts with backoff when the process dies. Run it while
// this server should run the controller; Status and Stats are safe to call
// at any time.
type ControllerProcess struct {
	spec ControllerProcessSpec
	args json.RawMessage
	log  *slog.Logger

	mu      sync.Mutex
	status  ControllerProcessStatus
	current *controllerConn
}

type controllerConn struct {
	client *goplugin.Client
	rpc    *controllerproc.Client
	stderr *tailWriter
}

// NewControllerProcess validates spec; nothing runs until Run.
func NewControllerProcess(spec ControllerProcessSpec, log *slog.Logger) (*ControllerProcess, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	var args json.RawMessage
	if len(spec.Args) > 0 {
		args, _ = json.Marshal(spec.Args) // Validate marshalled them
	}
	if log == nil {
		log = slog.Default()
	}
	return &ControllerProcess{spec: spec, args: args, log: log.With("controller", spec.Name, "path", spec.Path),
		status: ControllerProcessStatus{State: ControllerStopped}}, nil
}

// Spec is the process's configuration.
func (p *ControllerProcess) Spec() ControllerProcessSpec { return p.spec }

// Run starts the process with the API server config cfg (its URL, CA and
// the controller's token), restarts it with backoff whenever it dies, and
// stops it cleanly when ctx ends. It returns nil then, or at once with an
// error when the binary does not match its SHA-256 pin (restarting cannot
// fix that).
func (p *ControllerProcess) Run(ctx context.Context, cfg *client.Config) error {
	backoff := restartBackoffMin
	for {
		started := time.Now()
		conn, err := p.start(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				p.setState(ControllerStopped, 0, "")
				return nil
			}
			p.setState(ControllerFailing, 0, err.Error())
			var refused refusedError
			if errors.As(err, &refused) {
				p.log.Error("controller process refused", "err", err)
				return err
			}
			p.log.Error("controller process did not start; retrying", "err", err, "backoff", backoff)
		} else {
			p.mu.Lock()
			p.current = conn
			p.mu.Unlock()
			p.setState(ControllerRunning, conn.client.ReattachConfig().Pid, "")
			p.log.Info("controller process started", "pid", conn.client.ReattachConfig().Pid)
			if !p.waitExit(ctx, conn) {
				p.shutdown(conn)
				p.setState(ControllerStopped, 0, "")
				return nil
			}
			msg := "process exited"
			if last := conn.stderr.last(); last != "" {
				msg += "; its last output: " + last
			}
			p.mu.Lock()
			p.current = nil
			p.status.Restarts++
			p.mu.Unlock()
			p.setState(ControllerRestarting, 0, msg)
			if time.Since(started) > restartStableAfter {
				backoff = restartBackoffMin
			}
			p.log.Warn("controller process exited, restarting", "backoff", backoff, "last-output", conn.stderr.last())
		}
		select {
		case <-ctx.Done():
			p.setState(ControllerStopped, 0, "")
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartBackoffMax)
	}
}

// newGoPluginClient is the go-plugin client for a plugin binary: gRPC
// only, AutoMTLS, the binary's output to stderr, and the SHA-256 pin (if
// any) checked by go-plugin before it runs the binary.
func newGoPluginClient(spec *Spec, plugins goplugin.PluginSet, logName string, stderr io.Writer) *goplugin.Client {
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  process.Handshake,
		Plugins:          plugins,
		Cmd:              exec.Command(spec.Process),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     processStartLimit,
		Stderr:           stderr,
		SyncStderr:       stderr,
		SyncStdout:       stderr,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: logName, Output: stderr, Level: hclog.Warn}),
	}
	if spec.SHA256 != "" {
		sum, _ := hex.DecodeString(spec.SHA256) // validated with the spec
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	return goplugin.NewClient(cfg)
}

// refusedError is a start failure retrying cannot fix.
type refusedError struct{ error }

func (e refusedError) Unwrap() error { return e.error }

func (p *ControllerProcess) start(ctx context.Context, cfg *client.Config) (*controllerConn, error) {
	stderr := &tailWriter{w: &lineLogger{log: p.log}}
	c := newGoPluginClient(p.spec.pluginSpec(), controllerproc.ClientPlugins(), "controller."+p.spec.Name, stderr)
	proto, err := c.Client()
	if err != nil {
		c.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, refusedError{checksumError(p.spec.pluginSpec())}
		}
		return nil, fmt.Errorf("start %s: %w", p.spec.Path, err)
	}
	raw, err := proto.Dispense(controllerproc.PluginName)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("start %s: %w", p.spec.Path, err)
	}
	conn := &controllerConn{client: c, rpc: raw.(*controllerproc.Client), stderr: stderr}
	startCtx, cancel := context.WithTimeout(ctx, processStartLimit)
	defer cancel()
	err = conn.rpc.Start(startCtx, &controllerproc.StartRequest{
		Name: p.spec.Name, Server: cfg.Server, CAPEM: cfg.CertificateAuthorityData, Token: cfg.Token, Args: p.args,
	})
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("start %s: %w", p.spec.Path, err)
	}
	return conn, nil
}

// waitExit reports true when the process died, false when ctx ended first.
func (p *ControllerProcess) waitExit(ctx context.Context, conn *controllerConn) bool {
	tick := time.NewTicker(exitPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
			if conn.client.Exited() {
				return true
			}
		}
	}
}

// shutdown asks the controller to stop (its Manager drains its workers),
// then ends the process.
func (p *ControllerProcess) shutdown(conn *controllerConn) {
	ctx, cancel := context.WithTimeout(context.Background(), controllerStopTimeout)
	defer cancel()
	if err := conn.rpc.Stop(ctx); err != nil {
		p.log.Warn("controller process did not stop cleanly", "err", err)
	}
	conn.client.Kill()
	p.mu.Lock()
	p.current = nil
	p.mu.Unlock()
	p.log.Info("controller process stopped")
}

func (p *ControllerProcess) setState(state string, pid int, lastError string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status.State, p.status.PID = state, pid
	if lastError != "" || state == ControllerRunning {
		p.status.LastError = lastError
	}
}

// Status is the process's state now.
func (p *ControllerProcess) Status() ControllerProcessStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Stats asks the running process for its reconcile metrics, summed over
// the controllers it runs; zero when it is not running.
func (p *ControllerProcess) Stats(ctx context.Context) (controllerproc.Stats, error) {
	p.mu.Lock()
	conn := p.current
	p.mu.Unlock()
	if conn == nil {
		return controllerproc.Stats{}, nil
	}
	stats, err := conn.rpc.Stats(ctx)
	if err != nil {
		return controllerproc.Stats{}, fmt.Errorf("controller %s: stats: %w", p.spec.Name, err)
	}
	return controllerproc.Sum(stats), nil
}

// tailWriter passes output on and keeps its last non-empty line, which
// usually says why a process died.
type tailWriter struct {
	w      io.Writer
	mu     sync.Mutex
	line   []byte
	latest string
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	for _, c := range b {
		if c != '\n' {
			if len(t.line) < 4096 {
				t.line = append(t.line, c)
			}
			continue
		}
		if len(t.line) > 0 {
			t.latest = string(t.line)
		}
		t.line = t.line[:0]
	}
	t.mu.Unlock()
	return t.w.Write(b)
}

func (t *tailWriter) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.latest
}
