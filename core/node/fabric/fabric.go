package fabric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"

	"github.com/skiff-sh/skiff/sdk/network"
)

// Marks of what the fabric owns on the host.
const (
	// RouteProtocol is the rtnetlink protocol of every route the fabric
	// adds (`ip route show proto 115`); routes with it that are no longer
	// planned are removed.
	RouteProtocol = 115
	// DefaultDevicePrefix starts the name of every device the fabric owns.
	DefaultDevicePrefix = "skiff"
	// DefaultChainPrefix starts the iptables chains the fabric owns.
	DefaultChainPrefix = "SKIFF-FABRIC-"
)

// Config configures a Fabric.
type Config struct {
	// StateDir keeps the sysctl values the fabric replaced, so a teardown
	// (even by a later process) restores only what skiff changed; required.
	StateDir string
	// NetNS is the path of the network namespace to act in; empty is the
	// process's own. Tests and multi-node harnesses use it.
	NetNS string
	// DevicePrefix marks owned devices (default DefaultDevicePrefix):
	// bridges and VXLAN devices with it belong to the fabric.
	DevicePrefix string
	// ChainPrefix marks owned iptables chains (default DefaultChainPrefix).
	ChainPrefix string
	// Logger receives what the fabric changes (default slog.Default()).
	Logger *slog.Logger
}

// Fabric applies network plans to a node and reconciles them with what the
// host has: it adds what is missing, fixes what differs and removes what it
// owns that is no longer planned. It is safe for concurrent use; calls are
// serialised.
type Fabric struct {
	cfg Config
	mu  sync.Mutex
}

// New checks cfg; nothing on the host changes until Sync.
func New(cfg Config) (*Fabric, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("network fabric: state dir is required")
	}
	if cfg.DevicePrefix == "" {
		cfg.DevicePrefix = DefaultDevicePrefix
	}
	if cfg.ChainPrefix == "" {
		cfg.ChainPrefix = DefaultChainPrefix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NetNS != "" {
		if _, err := os.Stat(cfg.NetNS); err != nil {
			return nil, fmt.Errorf("network fabric: netns: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("network fabric: state dir: %w", err)
	}
	return &Fabric{cfg: cfg}, nil
}

// Changes lists what a Sync or Teardown did, one line per change
// ("add route 10.244.2.0/24 via 172.31.0.2"); empty means the host already
// matched.
type Changes []string

func (c *Changes) add(format string, args ...any) { *c = append(*c, fmt.Sprintf(format, args...)) }

// Sync makes the host match plan. The plan is validated first: an invalid
// plan is an error and changes nothing. On a host error Sync goes on with
// the other objects and returns every error; calling it again converges.
func (f *Fabric) Sync(ctx context.Context, plan network.Plan) (Changes, error) {
	d, err := f.check(plan)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ch Changes
	err = f.do(func() error {
		var errs []error
		if err := f.syncSysctls(d, &ch); err != nil {
			errs = append(errs, err)
		}
		links, err := f.syncDevices(d, &ch)
		if err != nil {
			errs = append(errs, err)
		}
		if err := f.syncRoutes(d, links, &ch); err != nil {
			errs = append(errs, err)
		}
		if err := f.syncNeighbors(d, links, &ch); err != nil {
			errs = append(errs, err)
		}
		if err := f.syncFDB(d, links, &ch); err != nil {
			errs = append(errs, err)
		}
		if err := f.syncRules(d, &ch); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	for _, c := range ch {
		f.cfg.Logger.Info("network fabric: " + c)
	}
	if err != nil {
		return ch, fmt.Errorf("network fabric: %w", err)
	}
	return ch, nil
}

// Teardown removes everything the fabric owns: its devices (with their
// addresses, routes, neighbour and FDB entries), its routes, its iptables
// chains and the jumps to them, and restores the sysctls it changed.
func (f *Fabric) Teardown(ctx context.Context) (Changes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ch Changes
	err := f.do(func() error {
		empty := &desired{rules: map[hook][]network.Rule{}}
		var errs []error
		if err := f.syncRoutes(empty, nil, &ch); err != nil {
			errs = append(errs, err)
		}
		if err := f.deleteDevices(&ch); err != nil {
			errs = append(errs, err)
		}
		if err := f.syncRules(empty, &ch); err != nil {
			errs = append(errs, err)
		}
		if err := f.restoreSysctls(&ch); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	for _, c := range ch {
		f.cfg.Logger.Info("network fabric teardown: " + c)
	}
	if err != nil {
		return ch, fmt.Errorf("network fabric teardown: %w", err)
	}
	return ch, nil
}

// do runs fn in the fabric's network namespace: netlink sockets, the
// iptables binary and /proc/sys all act in the namespace of the calling OS
// thread, so fn runs on a locked thread switched into it.
func (f *Fabric) do(fn func() error) error {
	if f.cfg.NetNS == "" {
		return fn()
	}
	return InNetNS(f.cfg.NetNS, fn)
}

// InNetNS runs fn on an OS thread switched into the network namespace at
// path, and switches back. Processes fn starts inherit the namespace;
// goroutines it starts do not.
func InNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine, so no
			// other goroutine runs in the wrong namespace.
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
