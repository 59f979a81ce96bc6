package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/process"
)

// Restart backoff for a plugin process that died.
const (
	restartBackoffMin = 100 * time.Millisecond
	restartBackoffMax = 10 * time.Second
	// A process that ran this long before dying restarts from the minimum.
	restartStableAfter = 30 * time.Second
	exitPollInterval   = 100 * time.Millisecond
	processStartLimit  = 15 * time.Second
)

// processPlugin is a plugin binary run through go-plugin (gRPC, AutoMTLS,
// optional SHA-256 pinning). When the process dies it is restarted with
// exponential backoff; calls made meanwhile fail (and the failure policy
// decides what that means).
type processPlugin struct {
	spec   *Spec
	args   sdk.Args
	log    *slog.Logger
	stderr io.Writer

	current    atomic.Pointer[processConn]
	restarting atomic.Bool
	lastError  atomic.Value // string
	stop       chan struct{}
	stopped    sync.WaitGroup
	scratch    sync.Pool
}

// processConn is one run of the process; its node mirror starts empty.
type processConn struct {
	client  *goplugin.Client
	rpc     *process.Client
	started time.Time
	synced  atomic.Uint64

	// channelAddr and channelToken reach the plugin's channel, when it
	// could open one; calls use gRPC sessions otherwise.
	channelAddr  string
	channelToken []byte

	mu   sync.Mutex
	idle []caller // open channels or sessions between calls
}

// caller is one connection to the process carrying one call at a time: a
// channel (process.Channel) or a gRPC session (process.Session).
type caller interface {
	Call(ctx context.Context, req []byte) ([]byte, error)
	Close()
}

// processSession is one call's use of the process: a caller of the pool,
// or nil for the unary calls of the handshake.
type processSession struct {
	conn    *processConn
	sc      *callScratch
	session caller
}

// takeSession returns an idle caller or opens one.
func (c *processConn) takeSession() (caller, error) {
	c.mu.Lock()
	s, ok := popIdle(&c.idle)
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if c.channelAddr != "" {
		return process.DialChannel(c.channelAddr, c.channelToken)
	}
	return c.rpc.OpenSession()
}

// putSession keeps a caller for the next call; one that failed is closed,
// as its connection may hold half a call.
func (c *processConn) putSession(s caller, err error) {
	if err != nil {
		s.Close()
		return
	}
	c.mu.Lock()
	c.idle = append(c.idle, s)
	c.mu.Unlock()
}

func (c *processConn) closeSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.idle {
		s.Close()
	}
	c.idle = nil
}

func loadProcess(ctx context.Context, spec *Spec, args sdk.Args, log *slog.Logger, stderr io.Writer, syncTimeout time.Duration) (impl, error) {
	p := &processPlugin{spec: spec, args: args, log: log, stderr: stderr, stop: make(chan struct{})}
	p.scratch.New = func() any { return new(callScratch) }
	conn, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	p.current.Store(conn)
	p.stopped.Add(1)
	go p.supervise()
	return &remote{acq: p, closer: p.close, isRestarting: p.restarting.Load, syncTimeout: syncTimeout}, nil
}

// pid returns the id of the current plugin process.
func (p *processPlugin) pid() int {
	if c := p.current.Load(); c != nil {
		if rc := c.client.ReattachConfig(); rc != nil {
			return rc.Pid
		}
	}
	return 0
}

func (p *processPlugin) start(ctx context.Context) (*processConn, error) {
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  process.Handshake,
		Plugins:          process.ClientPlugins(),
		Cmd:              exec.Command(p.spec.Process),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  process.DialOptions(),
		StartTimeout:     processStartLimit,
		Stderr:           p.stderr,
		SyncStderr:       p.stderr,
		SyncStdout:       p.stderr,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin." + p.spec.Name, Output: p.stderr, Level: hclog.Warn,
		}),
	}
	if p.spec.SHA256 != "" {
		sum, _ := hex.DecodeString(p.spec.SHA256) // validated with the spec
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	client := goplugin.NewClient(cfg)
	proto, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, checksumError(p.spec)
		}
		return nil, fmt.Errorf("start %s: %w", p.spec.Process, err)
	}
	raw, err := proto.Dispense(process.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start %s: %w", p.spec.Process, err)
	}
	conn := &processConn{client: client, rpc: raw.(*process.Client), started: time.Now()}
	if err := handshake(ctx, &processSession{conn: conn, sc: new(callScratch)}, p.spec, p.args); err != nil {
		client.Kill()
		return nil, err
	}
	if addr, token, err := conn.rpc.OpenChannel(ctx); err == nil {
		conn.channelAddr, conn.channelToken = addr, token
	} else {
		p.log.Info("plugin channel unavailable, calls go over gRPC sessions", "err", err)
	}
	return conn, nil
}

// checksumError names the file, the pinned and the actual digest.
func checksumError(spec *Spec) error {
	actual := "unreadable"
	if f, err := os.Open(spec.Path()); err == nil {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			actual = hex.EncodeToString(h.Sum(nil))
		}
		f.Close()
	}
	return fmt.Errorf("sha256: %s has sha256 %s, but the config pins %s: refusing to load it", spec.Path(), actual, spec.SHA256)
}

// supervise restarts the process when it exits, until close.
func (p *processPlugin) supervise() {
	defer p.stopped.Done()
	tick := time.NewTicker(exitPollInterval)
	defer tick.Stop()
	backoff := restartBackoffMin
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		conn := p.current.Load()
		if !conn.client.Exited() {
			continue
		}
		p.restarting.Store(true)
		if time.Since(conn.started) > restartStableAfter {
			backoff = restartBackoffMin
		}
		p.log.Warn("plugin process exited, restarting", "backoff", backoff)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, restartBackoffMax)
			ctx, cancel := context.WithTimeout(context.Background(), processStartLimit)
			next, err := p.start(ctx)
			cancel()
			if err == nil {
				conn.closeSessions()
				p.current.Store(next)
				p.restarting.Store(false)
				p.log.Info("plugin process restarted", "pid", p.pid())
				break
			}
			p.lastError.Store(err.Error())
			p.log.Error("plugin process restart failed", "err", err, "next", backoff)
		}
	}
}

func (p *processPlugin) acquire(context.Context) (session, error) {
	if p.restarting.Load() {
		msg, _ := p.lastError.Load().(string)
		if msg != "" {
			msg = " (last attempt: " + msg + ")"
		}
		return nil, fmt.Errorf("plugin process %s is restarting after it exited%s", p.spec.Process, msg)
	}
	conn := p.current.Load()
	st, err := conn.takeSession()
	if err != nil {
		return nil, broken(err)
	}
	return &processSession{conn: conn, sc: p.scratch.Get().(*callScratch), session: st}, nil
}

func (p *processPlugin) release(s session, err error) {
	ps := s.(*processSession)
	ps.conn.putSession(ps.session, err)
	p.scratch.Put(ps.sc)
}

func (p *processPlugin) close() error {
	close(p.stop)
	p.stopped.Wait()
	conn := p.current.Load()
	conn.closeSessions()
	conn.client.Kill() // asks the plugin to exit, then kills it
	return nil
}

func (s *processSession) roundTrip(ctx context.Context, req []byte) ([]byte, error) {
	var resp []byte
	var err error
	if s.session != nil {
		resp, err = s.session.Call(ctx, req)
	} else {
		resp, err = s.conn.rpc.Call(ctx, req)
	}
	if err != nil {
		return nil, broken(err)
	}
	return resp, nil
}

func (s *processSession) syncedGen() uint64     { return s.conn.synced.Load() }
func (s *processSession) setSyncedGen(g uint64) { s.conn.synced.Store(g) }
func (s *processSession) scratch() *callScratch { return s.sc }
