package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/core/schedule"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func newHost(t *testing.T, specs []plugin.Spec) *plugin.Host {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{Registry: NewRegistry(), WasmCacheDir: filepath.Join(artifacts, "wasm-cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := h.Apply(specs); err != nil {
		t.Fatal(err)
	}
	return h
}

// zoneCache is 30 nodes over zones a, b, c with different free room.
func zoneCache() *schedule.Cache {
	c := schedule.NewCache()
	for i := range 30 {
		c.SetNodeView(&scheduler.Node{
			Name:        fmt.Sprintf("node-%02d", i),
			Labels:      scheduler.MakeLabels(map[string]string{"zone": string(rune('a' + i%3))}),
			Allocatable: scheduler.Resources{MilliCPU: int64(2000 + 500*(i%4)), Memory: 8 << 30, Pods: 110},
		})
	}
	return c
}

func zonePod(i int, zone string) *scheduler.Pod {
	return &scheduler.Pod{Namespace: "default", Name: fmt.Sprintf("p-%d", i), Requests: scheduler.Resources{MilliCPU: 300, Pods: 1},
		Annotations: scheduler.MakeLabels(map[string]string{"skiff.io/prefer-zone": zone, "test/mode": "ok"})}
}

// place schedules n pods one after the other with the host's policies,
// assuming each, and returns the chosen nodes.
func place(t *testing.T, h *plugin.Host, n int, zone func(i int) string) []string {
	t.Helper()
	cache := zoneCache()
	pols := schedule.HostPolicies(h)()
	rng := rand.New(rand.NewPCG(1, 2))
	var out []string
	for i := range n {
		pod := zonePod(i, zone(i))
		var d schedule.Decision
		var err error
		cache.Table().Read(func(s scheduler.Snapshot) {
			d, err = schedule.Decide(context.Background(), pols, pod, s, schedule.DecideOptions{Rand: rng}, nil)
		})
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		cache.Assume("default/"+pod.Name, "", d.Node, pod)
		out = append(out, d.Node)
	}
	return out
}

func zonePrefSpecs(loader func(*plugin.Spec)) []plugin.Spec {
	zp := plugin.Spec{Name: "zone-pref", Point: sdk.PointScore, Weight: 3}
	loader(&zp)
	return append(append(DefaultSpecs(sdk.PointFilter), DefaultSpecs(sdk.PointScore)...), zp)
}

func TestZonePreferenceSamePlacementsAsBuiltinProcessAndWasm(t *testing.T) {
	zones := func(i int) string { return []string{"b", "c", "b", "a"}[i%4] }
	loaders := map[string]func(*plugin.Spec){
		"builtin": func(*plugin.Spec) {},
		"process": func(s *plugin.Spec) { s.Process = artifact("zone-pref-process") },
		"wasm":    func(s *plugin.Spec) { s.Wasm = artifact("zone-pref.wasm") },
	}
	got := map[string][]string{}
	for name, loader := range loaders {
		got[name] = place(t, newHost(t, zonePrefSpecs(loader)), 40, zones)
	}
	for i, node := range got["builtin"] {
		if n, _ := strconv.Atoi(strings.TrimPrefix(node, "node-")); string(rune('a'+n%3)) != zones(i) {
			t.Fatalf("pod %d preferring zone %s went to %s", i, zones(i), node)
		}
	}
	for _, name := range []string{"process", "wasm"} {
		if !slices.Equal(got[name], got["builtin"]) {
			t.Errorf("%s placements differ from builtin:\n%v\n%v", name, got[name], got["builtin"])
		}
	}
}

func misbehaveSpecs(policy plugin.FailurePolicy) []plugin.Spec {
	return []plugin.Spec{
		{Name: "NodeResourcesFit", Point: sdk.PointFilter},
		{Name: "LeastAllocated", Point: sdk.PointScore},
		{Name: "misbehave", Point: sdk.PointScore, Wasm: artifact("misbehave.wasm"), Timeout: 200 * time.Millisecond, FailurePolicy: policy},
	}
}

func decideOne(h *plugin.Host, pod *scheduler.Pod) (schedule.Decision, error) {
	cache := zoneCache()
	var d schedule.Decision
	var err error
	cache.Table().Read(func(s scheduler.Snapshot) {
		d, err = schedule.Decide(context.Background(), schedule.HostPolicies(h)(), pod, s, schedule.DecideOptions{}, nil)
	})
	return d, err
}

func TestWasmPolicyInInfiniteLoopIsCutAtItsDeadline(t *testing.T) {
	looping := zonePod(0, "a")
	looping.Annotations = scheduler.MakeLabels(map[string]string{"test/mode": "loop"})
	for _, tc := range []struct {
		policy plugin.FailurePolicy
		placed bool
	}{{plugin.FailOpen, true}, {plugin.FailClosed, false}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			h := newHost(t, misbehaveSpecs(tc.policy))
			start := time.Now()
			d, err := decideOne(h, looping)
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the looping call was not cut: took %s", took)
			}
			if tc.placed {
				if err != nil || d.Node == "" || !slices.Contains(d.Skipped, "misbehave") {
					t.Fatalf("fail-open: want the pod placed without misbehave, got node %q skipped %v err %v", d.Node, d.Skipped, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), "timed out") {
				t.Fatalf("fail-closed: want a timeout error leaving the pod unplaced, got node %q err %v", d.Node, err)
			}
			// Scheduling goes on: the next pod gets a fresh instance.
			if d, err := decideOne(h, zonePod(1, "a")); err != nil || d.Node == "" || len(d.Skipped) != 0 {
				t.Fatalf("the next pod: node %q skipped %v err %v", d.Node, d.Skipped, err)
			}
		})
	}
}

// childPids lists the processes whose parent is this test and whose
// executable is path.
func childPids(t *testing.T, path string) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if exe == path && len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestKilledProcessPluginIsRestartedAndSchedulingGoesOn(t *testing.T) {
	h := newHost(t, zonePrefSpecs(func(s *plugin.Spec) { s.Process = artifact("zone-pref-process") }))
	if d, err := decideOne(h, zonePod(0, "b")); err != nil || d.Node == "" {
		t.Fatalf("before the kill: node %q err %v", d.Node, err)
	}
	pids := childPids(t, artifact("zone-pref-process"))
	if len(pids) != 1 {
		t.Fatalf("want one plugin process, found %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the plugin process restarted and placing pods in zone b", func() (bool, string) {
		d, err := decideOne(h, zonePod(1, "b"))
		if err != nil {
			return false, err.Error()
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(d.Node, "node-"))
		restarted := len(childPids(t, artifact("zone-pref-process"))) == 1 && !slices.Contains(childPids(t, artifact("zone-pref-process")), pids[0])
		return restarted && n%3 == 1, fmt.Sprintf("node %s restarted %v", d.Node, restarted)
	})
}

func zonePrefStatus(h *plugin.Host) (plugin.PluginStatus, bool) {
	for _, st := range h.Status() {
		if st.Name == "zone-pref" {
			return st, true
		}
	}
	return plugin.PluginStatus{}, false
}

func waitReload(t *testing.T, cl *cluster) error {
	t.Helper()
	select {
	case err := <-cl.reloaded:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the config edit was not picked up")
		return nil
	}
}

func TestConfigEditsApplyWithoutRestart(t *testing.T) {
	withZonePref := func(entry string) string {
		return "scheduler:\n  score:\n    - {name: LeastAllocated}\n    - " + entry + "\n"
	}
	cl := startCluster(t, withZonePref(fmt.Sprintf("{name: zone-pref, wasm: %s, weight: 2}", artifact("zone-pref.wasm"))))
	if st, ok := zonePrefStatus(cl.host()); !ok || st.Loader != plugin.LoaderWasm {
		t.Fatalf("at start: zone-pref %+v, want the wasm form", st)
	}

	// An invalid edit is refused and the running selection stays.
	for _, bad := range []struct{ entry, wantErr string }{
		{"{name: zone-pref, wasm: /nonexistent/zone.wasm}", "scheduler.score \"zone-pref\": wasm"},
		{"{name: zone-pref, process: " + artifact("zone-pref-process") + ", wasm: " + artifact("zone-pref.wasm") + "}", "scheduler.score[1]"},
		{"{name: zone-pref, wasm: " + artifact("zone-pref.wasm") + ", failure-policy: sometimes}", "failurePolicy"},
		{"{name: zone-pref, wieght: 2}", "wieght"},
	} {
		cl.writeConfig(t, withZonePref(bad.entry))
		err := waitReload(t, cl)
		if err == nil || !strings.Contains(err.Error(), bad.wantErr) {
			t.Fatalf("edit %s: want an error mentioning %q, got %v", bad.entry, bad.wantErr, err)
		}
		if st, ok := zonePrefStatus(cl.host()); !ok || st.Loader != plugin.LoaderWasm {
			t.Fatalf("after the rejected edit %s: zone-pref %+v, want the wasm form kept", bad.entry, st)
		}
	}

	// A valid edit swaps the wasm form for the process form.
	cl.writeConfig(t, withZonePref(fmt.Sprintf("{name: zone-pref, process: %s, weight: 2}", artifact("zone-pref-process"))))
	if err := waitReload(t, cl); err != nil {
		t.Fatalf("valid edit rejected: %v", err)
	}
	st, ok := zonePrefStatus(cl.host())
	if !ok || st.Loader != plugin.LoaderProcess || st.State != plugin.StateLoaded {
		t.Fatalf("after the edit: zone-pref %+v, want the process form loaded", st)
	}
	d, err := decideOne(cl.host(), zonePod(0, "c"))
	if n, _ := strconv.Atoi(strings.TrimPrefix(d.Node, "node-")); err != nil || n%3 != 2 {
		t.Fatalf("scheduling with the process form: node %q err %v, want a zone c node", d.Node, err)
	}
}

// The status endpoint serves the fields `skiff plugins` reads.
func TestPluginStatusEndpoint(t *testing.T) {
	h := &pluginStatusHandler{}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PluginsPath, nil))
	if !strings.Contains(rec.Body.String(), `"kind":"PluginStatusList","items":[]`) {
		t.Fatalf("before the host exists: %s", rec.Body)
	}
	h.host.Store(newHost(t, DefaultSpecs(sdk.PointFilter)))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PluginsPath, nil))
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(DefaultSpecs(sdk.PointFilter)) {
		t.Fatalf("%d items, want one per default filter", len(list.Items))
	}
	for _, key := range []string{"name", "point", "loader", "state", "calls", "errors", "p99"} {
		if _, ok := list.Items[0][key]; !ok {
			t.Errorf("item lacks %q: %v", key, list.Items[0])
		}
	}
}
