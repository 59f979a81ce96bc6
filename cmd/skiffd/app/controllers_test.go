package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/plugin"
	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/test/scenario"
)

func TestEnabledControllers(t *testing.T) {
	all := controllerNames()
	for name, tc := range map[string]struct {
		list []string
		want []string
	}{
		"all":              {[]string{"*"}, all},
		"all but one":      {[]string{"*", "-cronjob"}, slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "cronjob" })},
		"only named":       {[]string{"deployment", "replicaset"}, []string{"deployment", "replicaset"}},
		"later entry wins": {[]string{"-gc", "gc"}, []string{"gc"}},
		"none":             {nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := enabledControllers(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if len(all) != 10 {
		t.Fatalf("builtin controllers: %v, want the ten of the reconcile issue", all)
	}
}

func TestPlanControllersRejectsBadSelection(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"unknown name":     {func(c *Config) { c.Controllers = []string{"*", "deploymnet"} }, `controllers[1]: unknown controller "deploymnet"`},
		"zero workers":     {func(c *Config) { c.ControllerWorkers = 0 }, "controller-workers: must be >= 1"},
		"args for unknown": {func(c *Config) { c.ControllerArgs = map[string]map[string]any{"nope": {}} }, "controller-args.nope: unknown controller"},
		"args for no-args": {func(c *Config) { c.ControllerArgs = map[string]map[string]any{"job": {"x": 1}} }, "controller-args.job: controller job takes no args"},
		"bad nodelifecycle": {func(c *Config) {
			c.ControllerArgs = map[string]map[string]any{"nodelifecycle": {"gracePeriod": "soon"}}
		}, "gracePeriod"},
		"short leader lease": {func(c *Config) { c.LeaderElection.LeaseDuration = 0 }, "leader-election.lease-duration"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			tc.mutate(&cfg)
			err := cfg.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
	cfg := defaultConfig()
	plan, err := planControllers(&cfg)
	if err != nil || len(plan.factories) != 10 {
		t.Fatalf("default plan: %v, %v", plan, err)
	}
}

// buildExampleController builds examples/process-controller into dir.
func buildExampleController(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "owner-label")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/process-controller")
	cmd.Dir = "../../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build examples/process-controller: %v\n%s", err, out)
	}
	return bin
}

func TestPlanProcessControllersRejectsBadEntries(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ctl")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("ab", 32)
	for name, tc := range map[string]struct {
		list []ProcessControllerConfig
		want string
	}{
		"builtin name": {[]ProcessControllerConfig{{Name: "deployment", Path: bin}}, `process-controllers[0]: name "deployment" is a builtin controller's`},
		"twice":        {[]ProcessControllerConfig{{Name: "a", Path: bin}, {Name: "a", Path: bin}}, `process-controllers[1]: name "a" is used twice`},
		"relative":     {[]ProcessControllerConfig{{Name: "a", Path: "ctl"}}, `process-controllers[0]: "a": path: must be an absolute path`},
		"pin mismatch": {[]ProcessControllerConfig{{Name: "a", Path: bin, SHA256: wrong}}, `process-controllers[0]: "a": sha256: ` + bin + ` has sha256 `},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			_, err := planControllersWith(&cfg, tc.list)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			if name == "pin mismatch" && !strings.Contains(err.Error(), "but the config pins "+wrong+": refusing to load it") {
				t.Fatalf("the pin error must say both digests: %v", err)
			}
		})
	}
}

// statusRows reads the plugin status endpoint as `skiff plugins` does.
func statusRows(t *testing.T, h *pluginStatusHandler) map[string]plugin.PluginStatus {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PluginsPath, nil))
	var list pluginStatusList
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	rows := map[string]plugin.PluginStatus{}
	for _, it := range list.Items {
		rows[it.Name] = it
	}
	return rows
}

func TestControllersRunWhileLeadingAndShowInPluginStatus(t *testing.T) {
	srv := etcd.NewServer(t)
	dir := t.TempDir()
	bin := buildExampleController(t, dir)
	cfg := defaultConfig()
	cfg.DataDir = dir
	cfg.Controllers = []string{"namespace"}
	plan, err := planControllersWith(&cfg, []ProcessControllerConfig{{Name: "owner-label", Path: bin, Args: map[string]any{"label": "team"}}})
	if err != nil {
		t.Fatal(err)
	}
	status := &pluginStatusHandler{}
	plan.attach(srv.Server, status)
	// A stored token the server does not know is replaced.
	tokenFile := filepath.Join(dir, "controllers", "owner-label.token")
	os.MkdirAll(filepath.Dir(tokenFile), 0o700)
	os.WriteFile(tokenFile, []byte("forgotten\n"), 0o600)

	ctx := context.Background()
	if _, err := client.Create(ctx, srv.Client, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "alice"}}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	if _, err := client.Create(ctx, srv.Client, &api.Deployment{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web"}, Spec: api.DeploymentSpec{
		Selector: &api.LabelSelector{MatchLabels: labels},
		Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels}, Spec: api.PodSpec{Containers: []api.Container{{Name: "main", Image: "nginx:1"}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	if rows := statusRows(t, status); rows["namespace"].State != controllerStandby || rows["owner-label"].State != controllerStandby {
		t.Fatalf("before leading: %+v", rows)
	}

	// A leadership term.
	term := func() (stop func()) {
		termCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- plan.run(termCtx, srv.Config) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controllers run: %v", err)
			}
		}
	}
	stop := term()
	scenario.Eventually(t, 20*time.Second, func() error {
		d, err := client.Get[*api.Deployment](ctx, srv.Client, "team-a", "web")
		if err != nil {
			return err
		}
		if got := d.Annotations["skiff.io/owner"]; got != "alice" {
			return fmt.Errorf("annotation %q, want alice", got)
		}
		return nil
	})
	var rows map[string]plugin.PluginStatus
	scenario.Eventually(t, 10*time.Second, func() error {
		rows = statusRows(t, status)
		if p := rows["owner-label"]; p.State != controllerRunning || p.Loader != plugin.LoaderProcess || p.Point != sdk.PointController || p.Calls == 0 || p.P99 == 0 || p.Path != bin {
			return fmt.Errorf("process row %+v", p)
		}
		if b := rows["namespace"]; b.State != controllerRunning || b.Loader != plugin.LoaderBuiltin || b.Calls == 0 {
			return fmt.Errorf("builtin row %+v", b)
		}
		return nil
	})
	token, err := os.ReadFile(tokenFile)
	if err != nil || string(token) == "forgotten\n" {
		t.Fatalf("token file %q, %v: want a newly issued token", token, err)
	}
	if info, _ := os.Stat(tokenFile); info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", info.Mode().Perm())
	}
	pid := plan.processes[0].Status().PID

	// Losing the lead stops the process; the rows go to standby.
	stop()
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("controller process %d runs after the term ended", pid)
	}
	if rows := statusRows(t, status); rows["namespace"].State != controllerStandby || rows["owner-label"].State != controllerStandby {
		t.Fatalf("after the term: %+v", rows)
	}

	// The next term reuses the stored token.
	stop = term()
	defer stop()
	scenario.Eventually(t, 20*time.Second, func() error {
		if st := plan.processes[0].Status(); st.State != plugin.ControllerRunning {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if again, _ := os.ReadFile(tokenFile); string(again) != string(token) {
		t.Fatalf("token reissued across terms: %q then %q", token, again)
	}
}
