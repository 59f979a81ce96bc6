package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
)

var (
	exampleOnce sync.Once
	examplePath string
	exampleErr  error
)

// exampleController builds examples/process-controller once per test binary.
func exampleController(t testing.TB) string {
	t.Helper()
	exampleOnce.Do(func() {
		examplePath = filepath.Join(artifacts, "process-controller")
		cmd := exec.Command("go", "build", "-o", examplePath, "./examples/process-controller")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			exampleErr = fmt.Errorf("build examples/process-controller: %v\n%s", err, out)
		}
	})
	if exampleErr != nil {
		t.Fatal(exampleErr)
	}
	return examplePath
}

// controllerServer starts etcd and an API server for one test and returns
// a client config carrying a token scoped to controller name.
func controllerServer(t *testing.T, name string) (*clienttest.Server, *client.Config) {
	t.Helper()
	etcd, err := clienttest.StartEtcd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	srv := etcd.NewServer(t)
	tok, err := srv.IssueScopedToken("controller:"+name, "controller")
	if err != nil {
		t.Fatal(err)
	}
	return srv, &client.Config{Server: srv.URL(), CertificateAuthorityData: string(srv.CAPEM()), Token: tok}
}

func processAlive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func TestControllerProcessReconcilesRestartsAndStops(t *testing.T) {
	bin := exampleController(t)
	srv, cfg := controllerServer(t, "owner-label")
	ctx := context.Background()
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a", Labels: map[string]string{"team": "alice"}}}
	if _, err := client.Create(ctx, srv.Client, ns); err != nil {
		t.Fatal(err)
	}
	dep := &api.Deployment{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web"}, Spec: api.DeploymentSpec{
		Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "main", Image: "nginx:1"}}}},
	}}
	if _, err := client.Create(ctx, srv.Client, dep); err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewControllerProcess(ControllerProcessSpec{Name: "owner-label", Path: bin, SHA256: sum,
		Args: map[string]any{"label": "team", "annotation": "example.com/owner"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx, cfg) }()
	t.Cleanup(func() { stop(); <-done })

	annotationIs := func(want string) func() error {
		return func() error {
			d, err := client.Get[*api.Deployment](ctx, srv.Client, "team-a", "web")
			if err != nil {
				return err
			}
			if got := d.Annotations["example.com/owner"]; got != want {
				return fmt.Errorf("annotation %q, want %q (status %+v)", got, want, p.Status())
			}
			return nil
		}
	}
	clienttest.Eventually(t, 20*time.Second, annotationIs("alice"))
	first := p.Status()
	if first.State != ControllerRunning || !processAlive(first.PID) {
		t.Fatalf("status %+v, want running with a live pid", first)
	}
	stats, err := p.Stats(ctx)
	if err != nil || stats.Calls == 0 || stats.P99 <= 0 {
		t.Fatalf("stats %+v, %v: want the process's reconciles counted", stats, err)
	}

	// Killed, it comes back and keeps reconciling.
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	clienttest.Eventually(t, 20*time.Second, func() error {
		if st := p.Status(); st.State != ControllerRunning || st.PID == first.PID || st.Restarts != 1 {
			return fmt.Errorf("status %+v, want running again under a new pid after one restart", st)
		}
		return nil
	})
	if _, err := client.Patch[*api.Namespace](ctx, srv.Client, "", "team-a", []byte(`{"metadata":{"labels":{"team":"bob"}}}`)); err != nil {
		t.Fatal(err)
	}
	clienttest.Eventually(t, 20*time.Second, annotationIs("bob"))

	// Losing the lead (ctx ends) stops the process cleanly.
	second := p.Status().PID
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil // for the cleanup
	if processAlive(second) {
		t.Fatalf("process %d still runs after Run returned", second)
	}
	if st := p.Status(); st.State != ControllerStopped {
		t.Fatalf("status after stop: %+v", st)
	}
}

func TestControllerProcessRefusesAChangedBinary(t *testing.T) {
	bin := exampleController(t)
	_, cfg := controllerServer(t, "pinned")
	sum, err := fileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	// A pin that does not match is refused when the config is read...
	wrong := strings.Repeat("0", 64)
	_, err = NewControllerProcess(ControllerProcessSpec{Name: "pinned", Path: bin, SHA256: wrong}, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(`"pinned": sha256: %s has sha256 %s, but the config pins %s: refusing to load it`, bin, sum, wrong)) {
		t.Fatalf("mismatched pin: %v", err)
	}
	// ...and when the binary changes after that, at start.
	copyPath := filepath.Join(t.TempDir(), "controller")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := NewControllerProcess(ControllerProcessSpec{Name: "pinned", Path: copyPath, SHA256: sum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, append(data, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = p.Run(ctx, cfg)
	var refused refusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "but the config pins "+sum+": refusing to load it") {
		t.Fatalf("Run with a changed binary: %v", err)
	}
	if st := p.Status(); st.State != ControllerFailing || !strings.Contains(st.LastError, "refusing to load it") {
		t.Fatalf("status %+v, want failing with the checksum error", st)
	}
}

func TestControllerProcessSpecValidate(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("x"), 0o644)
	for name, tc := range map[string]struct {
		spec ControllerProcessSpec
		want string
	}{
		"no name":        {ControllerProcessSpec{Path: "/bin/true"}, "name: must be set"},
		"relative path":  {ControllerProcessSpec{Name: "c", Path: "bin/c"}, `"c": path: must be an absolute path`},
		"missing binary": {ControllerProcessSpec{Name: "c", Path: filepath.Join(dir, "nope")}, "no such file"},
		"not executable": {ControllerProcessSpec{Name: "c", Path: plain}, "is not an executable file"},
		"bad digest":     {ControllerProcessSpec{Name: "c", Path: "/bin/true", SHA256: "abc"}, `sha256: "abc" is not 64 hex digits`},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.spec.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestControllerProcessRetriesABinaryThatIsNotAController(t *testing.T) {
	// A scheduler plugin binary speaks go-plugin but not the controller
	// contract: start fails with that said, and Run keeps retrying.
	_, cfg := controllerServer(t, "wrong")
	p, err := NewControllerProcess(ControllerProcessSpec{Name: "wrong", Path: artifact("zone-pref-process")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, cfg) }()
	clienttest.Eventually(t, 20*time.Second, func() error {
		if st := p.Status(); st.State != ControllerFailing || !strings.Contains(st.LastError, "does not serve the controller contract") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// BenchmarkControllerProcessStartStop measures one process controller
// start (exec, go-plugin handshake with AutoMTLS, SHA-256 check, Start
// call) and clean stop (Stop call, the Manager draining, exit).
func BenchmarkControllerProcessStartStop(b *testing.B) {
	bin := exampleController(b)
	etcd, err := clienttest.StartEtcd()
	if err != nil {
		b.Fatal(err)
	}
	defer etcd.Close()
	srv := etcd.NewServer(b)
	sum, _ := fileSHA256(bin)
	p, err := NewControllerProcess(ControllerProcessSpec{Name: "bench", Path: bin, SHA256: sum}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	var start, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		conn, err := p.start(context.Background(), srv.Config)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		p.shutdown(conn)
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "ms-start/op")
	b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "ms-stop/op")
}
