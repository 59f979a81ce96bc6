package app

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/core/client/clienttest"
)

// etcd is shared by the test binary; artifacts holds the plugin binaries
// and WASM modules the scheduler tests load.
var (
	etcd      *clienttest.Etcd
	artifacts string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiffd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	artifacts = dir
	if err := buildArtifacts(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		e, err := clienttest.StartEtcd()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer e.Close()
		etcd = e
		return m.Run()
	}()
	os.Exit(code)
}

func buildArtifacts(dir string) error {
	for _, b := range []struct {
		out, pkg string
		wasm     bool
	}{
		{"zone-pref.wasm", "./wasm-examples/zone-pref", true},
		{"misbehave.wasm", "./core/plugin/testdata/misbehave", true},
		{"zone-pref-process", "./wasm-examples/zone-pref/process", false},
		{"require-requests.wasm", "./wasm-examples/require-requests", true},
		{"routed.wasm", "./plugins/network/routed/cmd/routed-wasm", true},
	} {
		args := []string{"build", "-o", filepath.Join(dir, b.out)}
		cmd := exec.Command("go")
		cmd.Env = os.Environ()
		if b.wasm {
			args = append(args, "-buildmode=c-shared")
			cmd.Env = append(cmd.Env, "GOOS=wasip1", "GOARCH=wasm")
		}
		cmd.Args = append([]string{"go"}, append(args, b.pkg)...)
		cmd.Dir = "../../.." // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

func artifact(name string) string { return filepath.Join(artifacts, name) }
