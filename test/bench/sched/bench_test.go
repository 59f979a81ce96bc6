// Package sched_test measures the scheduler's throughput in-process on
// simulated nodes: no API server (a fake binder), so the figures are
// scheduling, not etcd. Run with
//
//	SKIFF_BENCH=1 go test -run TestBench -v ./test/bench/sched
//
// It prints `BENCH sched_<loader>_<n>_nodes_pods_per_s <n> pods/s` for the
// default policies (builtin) and with one added score policy, the
// zone-preference example, as a WASM module and as a process plugin.
package sched_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/cmd/skiffd/app"
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/plugin/plugintest"
	"github.com/skiff-sh/skiff/core/schedule"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// countingBinder accepts every binding at once.
type countingBinder struct{ bound atomic.Int64 }

func (b *countingBinder) Bind(context.Context, *api.Pod, string) error {
	b.bound.Add(1)
	return nil
}

func (*countingBinder) SetCondition(context.Context, *api.Pod, string, string) error { return nil }

// build compiles pkg into dir/out (a WASM module when wasm is set).
func build(t *testing.T, dir, out, pkg string, wasm bool) string {
	t.Helper()
	path := filepath.Join(dir, out)
	if err := plugintest.Build(pkg, path, wasm); err != nil {
		t.Fatal(err)
	}
	return path
}

// simNode is a 16-cpu, 64 GiB node in one of three zones with the labels
// a real node carries, and a few pods already on it.
func simNode(i int) *scheduler.Node {
	name := fmt.Sprintf("node-%05d", i)
	n := &scheduler.Node{
		Name: name,
		Labels: scheduler.MakeLabels(map[string]string{
			"zone": fmt.Sprintf("zone-%c", 'a'+i%3), "kubernetes.io/hostname": name,
			"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "node.skiff.io/pool": fmt.Sprintf("pool-%d", i%8),
		}),
		Allocatable: scheduler.Resources{MilliCPU: 16000, Memory: 64 << 30, EphemeralStorage: 200 << 30, Pods: 110},
	}
	for k := range 5 {
		n.Pods = append(n.Pods, scheduler.PodRef{Namespace: "default", Name: fmt.Sprintf("%s-pod-%d", name, k),
			Labels: scheduler.MakeLabels(map[string]string{"app": fmt.Sprintf("app-%d", (i+k)%50)})})
	}
	n.Allocated = scheduler.Resources{MilliCPU: 5 * 200, Memory: 5 * (256 << 20), Pods: 5}
	return n
}

func simPod(i int) (*api.Pod, *scheduler.Pod) {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("bench-%06d", i), UID: fmt.Sprint(i)}}
	v := &scheduler.Pod{Namespace: "default", Name: p.Name, UID: p.UID,
		Labels:      scheduler.MakeLabels(map[string]string{"app": fmt.Sprintf("bench-%d", i%20)}),
		Annotations: scheduler.MakeLabels(map[string]string{"skiff.io/prefer-zone": fmt.Sprintf("zone-%c", 'a'+i%3)}),
		Requests:    scheduler.Resources{MilliCPU: 100, Memory: 128 << 20, Pods: 1}}
	return p, v
}

// run schedules pods pods on nodes nodes with the given selection and
// returns pods per second.
func run(t *testing.T, specs []plugin.Spec, cacheDir string, nodes, pods int) float64 {
	t.Helper()
	host, err := plugin.NewHost(plugin.Options{Registry: app.NewRegistry(), WasmCacheDir: cacheDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := host.Apply(specs); err != nil {
		t.Fatal(err)
	}
	binder := &countingBinder{}
	s, err := schedule.New(schedule.Options{Policies: schedule.HostPolicies(host), Binder: binder, Seed: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		s.Cache().SetNodeView(simNode(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Warm up: plugin mirrors take the whole table once.
	const warm = 50
	for i := range pods + warm {
		p, v := simPod(i)
		s.Queue().Add(p, v, true)
	}
	for range warm {
		s.ScheduleOne(ctx, s.Queue().Pop(ctx))
	}
	// As testing.B does: the previous runs' garbage is not this one's cost.
	runtime.GC()
	start := time.Now()
	for range pods {
		s.ScheduleOne(ctx, s.Queue().Pop(ctx))
	}
	elapsed := time.Since(start)
	// Bindings run in the background; wait for the last ones.
	for deadline := time.Now().Add(10 * time.Second); binder.bound.Load() < int64(pods+warm) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := binder.bound.Load(); got != int64(pods+warm) {
		t.Fatalf("%d of %d pods bound", got, pods+warm)
	}
	return float64(pods) / elapsed.Seconds()
}

func TestBenchScheduler(t *testing.T) {
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("set SKIFF_BENCH=1 to run benchmarks")
	}
	dir := t.TempDir()
	wasm := build(t, dir, "zone-pref.wasm", "./wasm-examples/zone-pref", true)
	proc := build(t, dir, "zone-pref-process", "./wasm-examples/zone-pref/process", false)
	defaults := append(app.DefaultSpecs(sdk.PointFilter), app.DefaultSpecs(sdk.PointScore)...)
	with := func(s plugin.Spec) []plugin.Spec { return append(append([]plugin.Spec(nil), defaults...), s) }
	zone := plugin.Spec{Name: "zone-pref", Point: sdk.PointScore}
	wasmSpec, procSpec := zone, zone
	wasmSpec.Wasm, procSpec.Process = wasm, proc
	for _, nodes := range []int{1000, 5000} {
		builtin := run(t, defaults, dir, nodes, 3000)
		fmt.Printf("BENCH sched_builtin_%d_nodes_pods_per_s %.0f pods/s\n", nodes, builtin)
		w := run(t, with(wasmSpec), dir, nodes, 3000)
		fmt.Printf("BENCH sched_wasm_%d_nodes_pods_per_s %.0f pods/s (%.0f%% of builtin)\n", nodes, w, 100*w/builtin)
		p := run(t, with(procSpec), dir, nodes, 3000)
		fmt.Printf("BENCH sched_process_%d_nodes_pods_per_s %.0f pods/s (%.0f%% of builtin)\n", nodes, p, 100*p/builtin)
	}
}
