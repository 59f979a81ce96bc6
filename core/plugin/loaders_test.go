package plugin

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
	"github.com/skiff-sh/skiff/wasm-examples/zone-pref/zonepref"
)

func zoneRegistry(t *testing.T) *Registry {
	reg := NewRegistry()
	if err := reg.Register(zonepref.Descriptor, zonepref.New); err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestSamePolicyThroughAllLoaders(t *testing.T) {
	h := newTestHost(t, zoneRegistry(t))
	args := map[string]any{"score": 90}
	err := h.Apply([]Spec{
		{Name: "zone-pref", Point: sdk.PointScore, Args: args},
		{Name: "zone-pref-process", Point: sdk.PointScore, Process: artifact("zone-pref-process"), Args: args},
		{Name: "zone-pref-wasm", Point: sdk.PointScore, Wasm: artifact("zone-pref.wasm"), Args: args},
	})
	if err != nil {
		t.Fatal(err)
	}
	table := zoneTable(300)
	check := func(pod *scheduler.Pod, wantMatches int) {
		t.Helper()
		var results [][]int64
		for _, p := range h.Scorers() {
			scores, applied, err := score(t, p, table, pod)
			if err != nil || !applied {
				t.Fatalf("%s: applied=%v err=%v", p.Name(), applied, err)
			}
			results = append(results, scores)
		}
		matches := 0
		for _, s := range results[0] {
			if s == 90 {
				matches++
			} else if s != 0 {
				t.Fatalf("builtin score %d, want 0 or 90", s)
			}
		}
		if matches != wantMatches {
			t.Errorf("pod %s: %d nodes scored 90, want %d", pod.Name, matches, wantMatches)
		}
		for i, r := range results[1:] {
			if !reflect.DeepEqual(r, results[0]) {
				t.Errorf("pod %s: %s scores differ from builtin", pod.Name, h.Scorers()[i+1].Name())
			}
		}
	}
	check(zonePod("a"), 100)
	check(zonePod("c"), 100)
	// Changes reach the out-of-process mirrors as deltas: move a node from
	// zone a to c, drop another, and add a new one in zone c.
	table.Set(&scheduler.Node{Name: "node-0000", Labels: scheduler.MakeLabels(map[string]string{"zone": "c"})})
	table.Remove("node-0003")
	table.Set(&scheduler.Node{Name: "node-9999", Labels: scheduler.MakeLabels(map[string]string{"zone": "c"})})
	check(zonePod("a"), 98)
	check(zonePod("c"), 102)
}

func misbehaveHost(t *testing.T, spec Spec) *Plugin {
	t.Helper()
	h := newTestHost(t, nil)
	spec.Name, spec.Point, spec.Wasm = "misbehave", sdk.PointScore, artifact("misbehave.wasm")
	if err := h.Apply([]Spec{spec}); err != nil {
		t.Fatal(err)
	}
	return h.Scorers()[0]
}

func modePod(mode string) *scheduler.Pod {
	return &scheduler.Pod{Namespace: "default", Name: mode, Annotations: scheduler.MakeLabels(map[string]string{"test/mode": mode})}
}

// wantFreshInstanceWorks checks that after a broken call the plugin serves
// again, from an instance that is not the broken one.
func wantFreshInstanceWorks(t *testing.T, p *Plugin, table *scheduler.NodeTable, broken map[any]bool) {
	t.Helper()
	m := p.loaded.impl.(*remote).acq.(*wasmModule)
	m.mu.Lock()
	for _, in := range m.idle {
		if broken[in.mod] {
			t.Error("a broken instance went back to the pool")
		}
	}
	m.mu.Unlock()
	scores, applied, err := score(t, p, table, modePod("ok"))
	if err != nil || !applied {
		t.Fatalf("call after the broken one: applied=%v err=%v", applied, err)
	}
	if scores[2] != 2 {
		t.Fatalf("score of slot 2 = %d, want 2", scores[2])
	}
}

func idleModules(p *Plugin) map[any]bool {
	m := p.loaded.impl.(*remote).acq.(*wasmModule)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[any]bool{}
	for _, in := range m.idle {
		out[in.mod] = true
	}
	return out
}

func TestWasmInfiniteLoopStopsAtDeadline(t *testing.T) {
	p := misbehaveHost(t, Spec{Timeout: 300 * time.Millisecond})
	table := zoneTable(10)
	before := idleModules(p)
	done := make(chan error, 1)
	go func() { _, _, err := score(t, p, table, modePod("loop")); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("looping guest: err = %v, want a timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the looping guest was not stopped at its deadline")
	}
	wantFreshInstanceWorks(t, p, table, before)
}

func TestWasmTrapIsDiscarded(t *testing.T) {
	p := misbehaveHost(t, Spec{Timeout: 20 * time.Second})
	table := zoneTable(10)
	before := idleModules(p)
	_, _, err := score(t, p, table, modePod("panic"))
	if err == nil || !strings.Contains(err.Error(), "unreachable") && !strings.Contains(err.Error(), "exit") {
		t.Fatalf("panicking guest: err = %v, want a trap", err)
	}
	wantFreshInstanceWorks(t, p, table, before)
}

func TestWasmMemoryLimitIsDiscarded(t *testing.T) {
	p := misbehaveHost(t, Spec{MemoryLimitPages: 2048, Timeout: 20 * time.Second}) // 128 MiB
	table := zoneTable(10)
	before := idleModules(p)
	if _, _, err := score(t, p, table, modePod("oom")); err == nil {
		t.Fatal("a guest allocating past its memory limit succeeded")
	}
	wantFreshInstanceWorks(t, p, table, before)
}

// A Go guest's collector is tuned to its sandbox: GOGC 400 and a soft
// limit at three quarters of the instance's memory limit.
func TestWasmGuestCollectorSettings(t *testing.T) {
	p := misbehaveHost(t, Spec{MemoryLimitPages: 2048, Timeout: 20 * time.Second}) // 128 MiB
	scores, _, err := score(t, p, zoneTable(10), modePod("gc"))
	if err != nil {
		t.Fatal(err)
	}
	if scores[0] != 400 || scores[1] != 96<<20 {
		t.Fatalf("guest GOGC %d and memory limit %d, want 400 and %d", scores[0], scores[1], 96<<20)
	}
}

func TestProcessRestartsAfterKill(t *testing.T) {
	h := newTestHost(t, nil)
	if err := h.Apply([]Spec{{Name: "zone", Point: sdk.PointScore, Process: artifact("zone-pref-process")}}); err != nil {
		t.Fatal(err)
	}
	p := h.Scorers()[0]
	proc := p.loaded.impl.(*remote).acq.(*processPlugin)
	table := zoneTable(30)
	if _, _, err := score(t, p, table, zonePod("a")); err != nil {
		t.Fatal(err)
	}
	pid := proc.pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sawDown := false
	deadline := time.Now().Add(30 * time.Second)
	for {
		scores, _, err := score(t, p, table, zonePod("a"))
		if err != nil {
			sawDown = true
		} else if proc.pid() != pid {
			if scores[0] != 100 {
				t.Fatalf("after restart, node-0000 (zone a) scored %d, want 100", scores[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process plugin not back 30s after kill; status %+v", h.Status())
		}
		if st := h.Status()[0].State; st == StateRestarting {
			sawDown = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawDown {
		t.Error("the host never noticed the process had died")
	}
	if st := h.Status()[0]; st.State == StateRestarting {
		t.Errorf("status after recovery: %s", st.State)
	}
}

func TestProcessClosedOnUnload(t *testing.T) {
	h := newTestHost(t, nil)
	if err := h.Apply([]Spec{{Name: "zone", Point: sdk.PointScore, Process: artifact("zone-pref-process")}}); err != nil {
		t.Fatal(err)
	}
	old := h.Scorers()[0]
	pid := old.loaded.impl.(*remote).acq.(*processPlugin).pid()
	if err := h.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := score(t, old, zoneTable(3), zonePod("a")); !errors.Is(err, errUnloaded) {
		t.Errorf("call to an unloaded plugin: err = %v, want errUnloaded", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still running after unload", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
