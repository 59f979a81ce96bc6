package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/namespaces"
)

// Config says which containerd to use and where the runtime keeps its files.
type Config struct {
	// Socket is the address of an existing containerd. Empty starts and
	// supervises a private containerd with Root, State and PrivateSocket.
	Socket string
	// Root and State are the private containerd's directories (defaults
	// DataDir/containerd/root and /run/skiff/<Namespace>/containerd).
	Root, State string
	// PrivateSocket is where the private containerd listens (default
	// State/containerd.sock).
	PrivateSocket string
	// Namespace is the containerd namespace holding this agent's containers
	// (default "skiff"), so several agents can share one daemon.
	Namespace string
	// DataDir holds container logs, log FIFOs and per-pod files such as
	// /etc/hostname (default /var/lib/skiff/runtime).
	DataDir string
	// ContainerdBinary is the containerd executable for the private daemon
	// (default "containerd" on PATH).
	ContainerdBinary string
	// Snapshotter is the containerd snapshotter (default "overlayfs").
	Snapshotter string
	// MaxParallelStarts bounds how many containers start at once (default:
	// the number of CPUs). Each start runs the shim and runc, which are
	// CPU-bound: a burst of starts sharing the CPU all finish late, while
	// bounded starts finish one after another at the same total rate.
	MaxParallelStarts int
	// Logger receives the runtime's own messages (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Namespace == "" {
		c.Namespace = "skiff"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/skiff/runtime"
	}
	if c.Root == "" {
		c.Root = filepath.Join(c.DataDir, "containerd", "root")
	}
	if c.State == "" {
		c.State = filepath.Join("/run/skiff", c.Namespace, "containerd")
	}
	if c.PrivateSocket == "" {
		c.PrivateSocket = filepath.Join(c.State, "containerd.sock")
	}
	if c.Snapshotter == "" {
		c.Snapshotter = "overlayfs"
	}
	if c.MaxParallelStarts <= 0 {
		c.MaxParallelStarts = goruntime.NumCPU()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Runtime runs pods' containers on containerd. It is safe for concurrent
// use. Containers outlive the Runtime: Close leaves them running, and a new
// Runtime on the same daemon and namespace finds them with
// ListPodContainers.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	daemon *daemon // nil when using an existing containerd
	log    *slog.Logger
	images imageCache
	// starts holds a token per container being started (MaxParallelStarts).
	starts chan struct{}

	mu sync.Mutex
	// streams copy the stdout/stderr of running containers to their log
	// files, by container ID.
	streams map[string]*containerStreams

	stopEvents context.CancelFunc
	eventsDone chan struct{}
}

// Start connects to containerd (starting a private one when cfg.Socket is
// empty) and returns a Runtime using cfg.Namespace.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg.setDefaults()
	if err := identifiers.Validate(cfg.Namespace); err != nil {
		return nil, fmt.Errorf("containerd runtime: namespace: %w", err)
	}
	for _, dir := range []string{cfg.DataDir, fifoDir(cfg.DataDir)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("containerd runtime: data dir: %w", err)
		}
	}
	r := &Runtime{cfg: cfg, log: cfg.Logger, streams: map[string]*containerStreams{}, starts: make(chan struct{}, cfg.MaxParallelStarts)}
	socket := cfg.Socket
	if socket == "" {
		socket = cfg.PrivateSocket
		cfg.Socket = socket
		d, err := newDaemon(cfg, r.log)
		if err != nil {
			return nil, err
		}
		if err := d.start(ctx); err != nil {
			return nil, err
		}
		r.daemon = d
	}
	client, err := containerd.New(socket, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		r.closeDaemon()
		return nil, fmt.Errorf("containerd runtime: connect to %s: %w", socket, err)
	}
	r.client = client
	if _, err := client.Version(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("containerd runtime: containerd on %s does not answer: %w", socket, err)
	}
	eventsCtx, cancel := context.WithCancel(context.Background())
	r.stopEvents, r.eventsDone = cancel, make(chan struct{})
	go r.watchOOM(eventsCtx)
	return r, nil
}

// Namespace is the containerd namespace of the runtime's containers.
func (r *Runtime) Namespace() string { return r.cfg.Namespace }

// Client is the underlying containerd client, with the runtime's namespace
// as its default.
func (r *Runtime) Client() *containerd.Client { return r.client }

// DaemonPID is the process id of the private containerd, 0 when using an
// existing daemon or while the private one is being restarted.
func (r *Runtime) DaemonPID() int {
	if r.daemon == nil {
		return 0
	}
	return r.daemon.pid()
}

// Close stops copying logs, disconnects and stops the private containerd.
// Running containers keep running (their shims outlive containerd); the
// output they write while no Runtime is attached waits in the log FIFOs.
func (r *Runtime) Close() error {
	if r.stopEvents != nil {
		r.stopEvents()
		<-r.eventsDone
	}
	r.mu.Lock()
	for id, s := range r.streams {
		s.Cancel()
		s.Wait()
		delete(r.streams, id)
	}
	r.mu.Unlock()
	var err error
	if r.client != nil {
		err = r.client.Close()
	}
	r.closeDaemon()
	return err
}

func (r *Runtime) closeDaemon() {
	if r.daemon != nil {
		r.daemon.close()
	}
}

// ns returns ctx carrying the runtime's namespace.
func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

func fifoDir(dataDir string) string { return filepath.Join(dataDir, "fifo") }

// errNotSkiff is returned for containers in the namespace that skiff did not
// create (no pod labels).
var errNotSkiff = errors.New("container was not created by skiff")
