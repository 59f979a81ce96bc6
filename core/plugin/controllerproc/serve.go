// Package controllerproc runs a skiff controller as its own process, loaded
// by skiffd over hashicorp/go-plugin (gRPC, AutoMTLS, optional SHA-256
// pinning, restart with backoff). The process gets the API server's URL,
// its CA and a token of its own, and runs the same core/client and
// core/reconcile code as the builtin controllers, with its own Manager.
// A controller binary's main is a few lines:
//
//	func main() {
//		controllerproc.Serve("owner-label", func(ctx context.Context, env *controllerproc.Env) error {
//			return env.RunControllers(ctx, 2, map[string]reconcile.Factory{env.Name: ownerlabel.New})
//		})
//	}
//
// skiffd starts the process while it leads the control plane and stops it
// when it loses the lead or shuts down; the process also exits when skiffd
// dies, so two leaders never run one controller.
package controllerproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/sdk/process"
)

// Env is what a controller process runs with.
type Env struct {
	// Name is the controller's name in skiffd's config.
	Name string
	// Config reaches the API server as user "controller:NAME"; Client is a
	// client built from it.
	Config *client.Config
	Client *client.Client
	// Args are the config entry's args as JSON (empty when none).
	Args json.RawMessage
	// Logger writes to stderr, which skiffd logs under the controller's name.
	Logger *slog.Logger
}

// DecodeArgs decodes the args into v, rejecting unknown fields so a typo in
// the config is an error rather than a silent default.
func (e *Env) DecodeArgs(v any) error {
	if len(bytes.TrimSpace(e.Args)) == 0 || string(e.Args) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(e.Args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("process-controllers %q: args: %w", e.Name, err)
	}
	return nil
}

// RunControllers runs the controllers built by factories under one
// reconcile.Manager (shared informers, one event sink) until ctx ends.
func (e *Env) RunControllers(ctx context.Context, workers int, factories map[string]reconcile.Factory) error {
	m, err := reconcile.NewManager(reconcile.ManagerOptions{Client: e.Client, Logger: e.Logger})
	if err != nil {
		return err
	}
	for name, f := range factories {
		if err := m.Add(name, f, workers); err != nil {
			return err
		}
	}
	return m.Run(ctx)
}

// RunFunc runs a controller until ctx ends. Returning before that is a
// failure: the process exits and skiffd restarts it with backoff.
type RunFunc func(ctx context.Context, env *Env) error

// How long the run function gets to return once asked to stop.
const stopGrace = 5 * time.Second

// parentPollInterval is how often the process checks that skiffd lives.
const parentPollInterval = time.Second

// Serve serves the controller until skiffd ends the process. Run by hand,
// the binary prints that it is a plugin and exits.
func Serve(name string, run RunFunc) {
	// skiffd logs each line under the controller's name and its own time.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	s := &server{name: name, run: run, log: log, exit: os.Exit}
	go s.exitWithParent(os.Getppid())
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: process.Handshake,
		Plugins:         plugin.PluginSet{PluginName: &grpcPlugin{impl: s}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
	// skiffd closed the connection: let the controller finish cleanly.
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	if err := s.stop(ctx); err != nil {
		log.Error("stopping", "err", err)
	}
}

// server is the plugin side of the protocol.
type server struct {
	name string
	run  RunFunc
	log  *slog.Logger
	exit func(code int)

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (s *server) start(_ context.Context, req *StartRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return errors.New("already started")
	}
	cfg := &client.Config{Server: req.Server, CertificateAuthorityData: req.CAPEM, Token: req.Token}
	c, err := client.New(cfg)
	if err != nil {
		return fmt.Errorf("API client for %s: %w", req.Server, err)
	}
	env := &Env{Name: req.Name, Config: cfg, Client: c, Args: req.Args, Logger: s.log}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		err := s.run(ctx, env)
		s.mu.Lock()
		s.err = err
		close(s.done)
		s.mu.Unlock()
		if ctx.Err() == nil {
			// Stopping on its own is a failure; skiffd restarts the process.
			s.log.Error("controller stopped before it was asked to; exiting", "err", err)
			s.exit(1)
		}
	}()
	return nil
}

func (s *server) stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil && !errors.Is(s.err, context.Canceled) {
			return s.err
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("controller %s did not stop within the deadline", s.name)
	}
}

func (s *server) stats(context.Context) (map[string]Stats, error) {
	return GatherStats(prometheus.DefaultGatherer)
}

// exitWithParent ends the process when skiffd dies without stopping it
// (the process is re-parented): another server may lead by now.
func (s *server) exitWithParent(ppid int) {
	for range time.Tick(parentPollInterval) {
		if os.Getppid() != ppid {
			s.log.Warn("skiffd exited; stopping the controller")
			ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
			s.stop(ctx)
			cancel()
			s.exit(0)
		}
	}
}
