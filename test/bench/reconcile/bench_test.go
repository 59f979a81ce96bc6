package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/test/scenario"
)

// managerConfigEnv, when set, makes this binary run only the controller
// manager against the API server in that client config file.
const managerConfigEnv = "SKIFF_BENCH_MANAGER_CONFIG"

var etcd *clienttest.Etcd

func TestMain(m *testing.M) {
	if path := os.Getenv(managerConfigEnv); path != "" {
		os.Exit(runManager(path))
	}
	if os.Getenv("SKIFF_BENCH") != "1" {
		os.Exit(m.Run()) // the benchmark skips itself
	}
	clienttest.RunMain(m, &etcd)
}

// managerProfileEnv names a file for the child's CPU profile (optional).
const managerProfileEnv = "SKIFF_BENCH_MANAGER_CPUPROFILE"

// runManager is the child process: a controller manager until SIGTERM.
func runManager(configPath string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if path := os.Getenv(managerProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			log.Error("bench manager: cpu profile", "err", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Error("bench manager: cpu profile", "err", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	cli, err := client.FromFile(configPath)
	if err != nil {
		log.Error("bench manager", "err", err)
		return 1
	}
	m, err := scenario.NewManager(cli, 8, log)
	if err != nil {
		log.Error("bench manager", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := m.Run(ctx); err != nil {
		log.Error("bench manager", "err", err)
		return 1
	}
	return 0
}

const (
	deployments = 1000
	replicas    = 10
	totalPods   = deployments * replicas
)

func TestBenchReconcile10kPods(t *testing.T) {
	if os.Getenv("SKIFF_BENCH") != "1" {
		t.Skip("benchmark: set SKIFF_BENCH=1 to run")
	}
	c := scenario.Start(t, etcd, scenario.Options{Nodes: 20, NoManager: true})
	configPath := filepath.Join(t.TempDir(), "client.conf")
	if err := client.WriteConfig(configPath, c.Server.Config); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), managerConfigEnv+"="+configPath)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stopChild := func() *syscall.Rusage {
		if stopped {
			return nil
		}
		stopped = true
		_ = child.Process.Signal(syscall.SIGTERM)
		_ = child.Wait()
		return child.ProcessState.SysUsage().(*syscall.Rusage)
	}
	t.Cleanup(func() { stopChild() })

	start := time.Now()
	createAll(t, c)
	created := time.Since(start)
	var running int
	lastLog := time.Now()
	scenario.Eventually(t, 10*time.Minute, func() error {
		running = c.Nodes.RunningPods()
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			t.Logf("%s: %d pods running", time.Since(start).Round(time.Second), running)
		}
		if running < totalPods {
			return fmt.Errorf("%d of %d pods running", running, totalPods)
		}
		return nil
	})
	converged := time.Since(start)
	usage := stopChild()
	cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
	t.Logf("created %d deployments in %s; %d pods running after %s; manager CPU %s, max RSS %d MiB",
		deployments, created.Round(time.Millisecond), running, converged.Round(time.Millisecond), cpu.Round(time.Millisecond), usage.Maxrss/1024)
	logRequests(t, c)
	fmt.Printf("BENCH reconcile_10k_pods_s %.2f s\n", converged.Seconds())
	fmt.Printf("BENCH controller_cpu_per_1k_pods_s %.3f s\n", cpu.Seconds()/(totalPods/1000))
}

// createAll creates the Deployments from a few goroutines, as many users
// applying manifests at once would.
func createAll(t *testing.T, c *scenario.Cluster) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= deployments {
					return
				}
				d := scenario.NewDeployment("default", fmt.Sprintf("app-%04d", i), "nginx:1", replicas)
				if _, err := client.Create(context.Background(), c.Client, d); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
