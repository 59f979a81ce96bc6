package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/core/node/fabric"
)

// NetNSDir is where the harness mounts its namespaces, as `ip netns` does,
// so a failed test can be inspected with `ip netns exec`.
const NetNSDir = "/var/run/netns"

// NewNetNS creates a network namespace kept alive by a bind mount at
// NetNSDir/name, with its loopback up, and returns its path.
func NewNetNS(name string) (string, error) {
	path := filepath.Join(NetNSDir, name)
	if err := os.MkdirAll(NetNSDir, 0o755); err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("netns %s: already exists (left by a killed test? remove it with ip netns del %s)", name, name)
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: NewNamed switches this thread into the new
		// namespace, and the thread ends with the goroutine.
		runtime.LockOSThread()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		DeleteNetNS(path)
		return "", fmt.Errorf("netns %s: %w", name, err)
	}
	if err := fabric.InNetNS(path, linkUp("lo")); err != nil {
		DeleteNetNS(path)
		return "", fmt.Errorf("netns %s: %w", name, err)
	}
	return path, nil
}

// DeleteNetNS unmounts and removes a namespace; a missing one is fine. The
// namespace's devices go with it once nothing else holds it.
func DeleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}
