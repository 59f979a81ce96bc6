package images

import (
	"os"
	"os/exec"
	"testing"
)

// debianPackage names the package that provides each executable the
// integration tests use, for the skip message.
var debianPackage = map[string]string{
	"containerd":              "containerd",
	"runc":                    "runc",
	"/usr/lib/cni/bridge":     "containernetworking-plugins",
	"/usr/lib/cni/host-local": "containernetworking-plugins",
	"/usr/lib/cni/loopback":   "containernetworking-plugins",
	"iptables":                "iptables",
	BusyboxPath:               "busybox-static",
	"go":                      "the Go toolchain",
}

// RequireHost lets an integration test run only as root with the given
// executables (names on PATH or absolute paths) present. With CI=true a
// missing prerequisite fails the test, since CI installs them
// (scripts/install-deps.sh); elsewhere the test is skipped with the reason.
func RequireHost(t testing.TB, executables ...string) {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") == "true" {
		stop = t.Fatalf
	}
	if os.Geteuid() != 0 {
		stop("needs root (real containerd, runc, CNI and network namespaces); run `sudo -E go test` or `make e2e`")
		return
	}
	for _, exe := range executables {
		if _, err := exec.LookPath(exe); err != nil {
			pkg := debianPackage[exe]
			if pkg == "" {
				pkg = "the package providing it"
			}
			stop("needs %s: %v; install %s (make deps)", exe, err, pkg)
			return
		}
	}
}
