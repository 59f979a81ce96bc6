package plugin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// artifacts holds the guests and plugin binaries the tests build once.
var artifacts string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skiff-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	artifacts = dir
	builds := []struct {
		out, pkg string
		wasm     bool
	}{
		{"zone-pref.wasm", "./wasm-examples/zone-pref", true},
		{"misbehave.wasm", "./core/plugin/testdata/misbehave", true},
		{"zone-pref-process", "./wasm-examples/zone-pref/process", false},
		{"app-limit.wasm", "./wasm-examples/app-limit", true},
		{"require-requests.wasm", "./wasm-examples/require-requests", true},
	}
	for _, b := range builds {
		args := []string{"build", "-o", filepath.Join(dir, b.out)}
		env := os.Environ()
		if b.wasm {
			args = append(args, "-buildmode=c-shared")
			env = append(env, "GOOS=wasip1", "GOARCH=wasm")
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Dir = "../.." // the module root
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

func artifact(name string) string { return filepath.Join(artifacts, name) }

// newTestHost returns a host with its WASM compilation cache in a temp dir,
// closed when the test ends.
func newTestHost(t *testing.T, reg *Registry) *Host {
	t.Helper()
	h, err := NewHost(Options{Registry: reg, WasmCacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// zoneTable is n nodes spread over zones a, b and c.
func zoneTable(n int) *scheduler.NodeTable {
	t := scheduler.NewNodeTable()
	for i := range n {
		t.Set(&scheduler.Node{
			Name:        fmt.Sprintf("node-%04d", i),
			Labels:      scheduler.MakeLabels(map[string]string{"zone": string(rune('a' + i%3)), "kubernetes.io/hostname": fmt.Sprintf("node-%04d", i)}),
			Allocatable: scheduler.Resources{MilliCPU: 8000, Memory: 32 << 30, Pods: 110},
			Allocated:   scheduler.Resources{MilliCPU: int64(i % 7 * 500), Memory: int64(i%5) << 30, Pods: int64(i % 30)},
		})
	}
	return t
}

func allSlots(s scheduler.Snapshot) []int32 {
	var c []int32
	for i, n := range s.Nodes {
		if n != nil {
			c = append(c, int32(i))
		}
	}
	return c
}

func score(t *testing.T, p *Plugin, table *scheduler.NodeTable, pod *scheduler.Pod) ([]int64, bool, error) {
	t.Helper()
	var (
		scores  []int64
		applied bool
		err     error
	)
	table.Read(func(s scheduler.Snapshot) {
		c := allSlots(s)
		scores = make([]int64, len(c))
		applied, err = p.Score(context.Background(), pod, s, c, scores)
	})
	return scores, applied, err
}

func zonePod(zone string) *scheduler.Pod {
	return &scheduler.Pod{Namespace: "default", Name: "web-" + zone, Annotations: scheduler.MakeLabels(map[string]string{"skiff.io/prefer-zone": zone}),
		Requests: scheduler.Resources{MilliCPU: 100, Memory: 64 << 20, Pods: 1}}
}
