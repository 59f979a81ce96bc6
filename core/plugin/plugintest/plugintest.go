// Package plugintest helps plugin authors test that one plugin source
// behaves the same through the builtin, process and WASM loaders: it builds
// the process binary and the WASM module of a plugin into the test's temp
// dir and loads all three forms into one host.
package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/sdk"
)

// Plugin describes one plugin source and its builds.
type Plugin struct {
	Desc    sdk.Descriptor
	Factory sdk.Factory
	// Process and Wasm are the main packages of its process and WASM
	// builds, relative to the module root, e.g.
	// "./plugins/network/overlay/cmd/overlay-wasm".
	Process, Wasm string
	// Args configure every form.
	Args map[string]any
	// Timeout bounds each call (0: the host's default).
	Timeout time.Duration
}

// Loaded is one plugin loaded in each of the three forms.
type Loaded struct {
	Host *plugin.Host
	// Builtin, Process and Wasm are the same plugin through each loader.
	Builtin, Process, Wasm *plugin.Plugin
}

// All returns the three forms in loader order, for table-driven checks.
func (l *Loaded) All() []*plugin.Plugin { return []*plugin.Plugin{l.Builtin, l.Process, l.Wasm} }

// Load builds p's process and WASM forms, registers its factory as a
// builtin and loads it three times into one host (named after the
// descriptor, plus "-process" and "-wasm"). The host and the binaries go
// when the test ends.
func Load(t testing.TB, p Plugin) *Loaded {
	t.Helper()
	desc, args := p.Desc, p.Args
	dir := t.TempDir()
	var wg sync.WaitGroup
	var procErr, wasmErr error
	proc, wasm := filepath.Join(dir, desc.Name+"-process"), filepath.Join(dir, desc.Name+".wasm")
	wg.Add(2)
	go func() { defer wg.Done(); procErr = Build(p.Process, proc, false) }()
	go func() { defer wg.Done(); wasmErr = Build(p.Wasm, wasm, true) }()
	wg.Wait()
	for _, err := range []error{procErr, wasmErr} {
		if err != nil {
			t.Fatal(err)
		}
	}
	reg := plugin.NewRegistry()
	if err := reg.Register(desc, p.Factory); err != nil {
		t.Fatal(err)
	}
	h, err := plugin.NewHost(plugin.Options{Registry: reg, WasmCacheDir: filepath.Join(dir, "wasm-cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	err = h.Apply([]plugin.Spec{
		{Name: desc.Name, Point: desc.Point, Args: args, Timeout: p.Timeout},
		{Name: desc.Name + "-process", Point: desc.Point, Process: proc, Args: args, Timeout: p.Timeout},
		{Name: desc.Name + "-wasm", Point: desc.Point, Wasm: wasm, Args: args, Timeout: p.Timeout},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := h.Plugins(desc.Point)
	return &Loaded{Host: h, Builtin: got[0], Process: got[1], Wasm: got[2]}
}

// Build compiles the main package pkg (relative to the module root) to out,
// as a wasip1 reactor module when wasm is set.
func Build(pkg, out string, wasm bool) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", out}
	env := os.Environ()
	if wasm {
		args = append(args, "-buildmode=c-shared")
		env = append(env, "GOOS=wasip1", "GOARCH=wasm")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir, cmd.Env = root, env
	if b, err := cmd.CombinedOutput(); err != nil {
		return &buildError{pkg: pkg, err: err, output: string(b)}
	}
	return nil
}

// ModuleRoot is the directory of the go.mod the test runs in.
func ModuleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(b))), nil
}

type buildError struct {
	pkg, output string
	err         error
}

func (e *buildError) Error() string {
	return "building " + e.pkg + ": " + e.err.Error() + "\n" + e.output
}
