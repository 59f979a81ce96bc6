// Package plugin_test measures one batched scheduler call through each
// loader, for the scheduler's throughput targets (see sdk/RATIONALE.md).
//
//	SKIFF_BENCH=1 go test -run TestBench -v ./test/bench/plugin
package plugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/plugin/plugintest"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
	"github.com/skiff-sh/skiff/wasm-examples/zone-pref/zonepref"
)

const nodes = 5000

// build compiles pkg into dir/out (a WASM module when wasm is set).
func build(t *testing.T, dir, out, pkg string, wasm bool) string {
	t.Helper()
	path := filepath.Join(dir, out)
	if err := plugintest.Build(pkg, path, wasm); err != nil {
		t.Fatal(err)
	}
	return path
}

// clusterTable is a 5,000-node cluster: several labels per node, 10 pods
// each, so that node records are realistic in size.
func clusterTable() *scheduler.NodeTable {
	table := scheduler.NewNodeTable()
	for i := range nodes {
		table.Set(node(i, 0))
	}
	return table
}

func node(i, version int) *scheduler.Node {
	n := &scheduler.Node{
		Name: fmt.Sprintf("node-%05d", i),
		Labels: scheduler.MakeLabels(map[string]string{
			"zone": fmt.Sprintf("zone-%c", 'a'+i%3), "kubernetes.io/hostname": fmt.Sprintf("node-%05d", i),
			"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "node.skiff.io/pool": fmt.Sprintf("pool-%d", i%8),
		}),
		Allocatable: scheduler.Resources{MilliCPU: 16000, Memory: 64 << 30, EphemeralStorage: 200 << 30, Pods: 110},
		Allocated:   scheduler.Resources{MilliCPU: int64(1000 + version), Memory: 4 << 30, Pods: 10},
	}
	for p := range 10 {
		n.Pods = append(n.Pods, scheduler.PodRef{Namespace: "default", Name: fmt.Sprintf("app-%d-%d", i, p),
			Labels: scheduler.MakeLabels(map[string]string{"app": fmt.Sprintf("app-%d", p)})})
	}
	return n
}

// measure returns the median of one score call over all nodes, with one
// node changed before each call (a binding, as the scheduler does).
func measure(t *testing.T, p *plugin.Plugin, table *scheduler.NodeTable) (median, first time.Duration) {
	pod := &scheduler.Pod{Namespace: "default", Name: "web-0", Annotations: scheduler.MakeLabels(map[string]string{"skiff.io/prefer-zone": "zone-b"}),
		Labels: scheduler.MakeLabels(map[string]string{"app": "web"}), Requests: scheduler.Resources{MilliCPU: 250, Memory: 256 << 20, Pods: 1}}
	scores := make([]int64, nodes)
	candidates := make([]int32, nodes)
	for i := range candidates {
		candidates[i] = int32(i)
	}
	call := func() time.Duration {
		var elapsed time.Duration
		table.Read(func(s scheduler.Snapshot) {
			start := time.Now()
			applied, err := p.Score(context.Background(), pod, s, candidates, scores)
			elapsed = time.Since(start)
			if err != nil || !applied {
				t.Fatalf("%s: applied=%v err=%v", p.Name(), applied, err)
			}
		})
		if scores[1] != 100 || scores[0] != 0 {
			t.Fatalf("%s: wrong scores %v", p.Name(), scores[:3])
		}
		return elapsed
	}
	first = call() // full table sync
	const runs = 300
	samples := make([]time.Duration, runs)
	for i := range samples {
		table.Set(node(i*7%nodes, i+1))
		samples[i] = call()
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	return samples[runs/2], first
}

func TestBenchPluginScore(t *testing.T) {
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("set SKIFF_BENCH=1 to run benchmarks")
	}
	dir := t.TempDir()
	wasm := build(t, dir, "zone-pref.wasm", "./wasm-examples/zone-pref", true)
	proc := build(t, dir, "zone-pref-process", "./wasm-examples/zone-pref/process", false)
	reg := plugin.NewRegistry()
	reg.MustRegister(zonepref.Descriptor, zonepref.New)
	host, err := plugin.NewHost(plugin.Options{Registry: reg, WasmCacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := host.Apply([]plugin.Spec{
		{Name: "zone-pref", Point: sdk.PointScore},
		{Name: "wasm", Point: sdk.PointScore, Wasm: wasm, Timeout: time.Minute},
		{Name: "process", Point: sdk.PointScore, Process: proc, Timeout: time.Minute},
	}); err != nil {
		t.Fatal(err)
	}
	table := clusterTable()
	for _, p := range host.Scorers() {
		median, first := measure(t, p, table)
		loader := string(p.Spec().Loader())
		fmt.Printf("BENCH plugin_%s_score_5000_nodes_us %d us\n", loader, median.Microseconds())
		fmt.Printf("BENCH plugin_%s_score_5000_nodes_full_sync_us %d us\n", loader, first.Microseconds())
	}
}
