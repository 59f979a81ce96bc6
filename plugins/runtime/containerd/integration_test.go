package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/containerd/containerd/oci"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/plugins/network/bridge"
	"github.com/skiff-sh/skiff/test/images"
)

// Image archives are built once per test binary.
var archives struct {
	once         sync.Once
	web, busybox string
	err          error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if archives.web != "" {
		os.RemoveAll(filepath.Dir(archives.web))
	}
	os.Exit(code)
}

func imageArchives(t *testing.T) (web, busybox string) {
	t.Helper()
	archives.once.Do(func() {
		dir, err := os.MkdirTemp("", "skiff-runtime-images-")
		if err != nil {
			archives.err = err
			return
		}
		if archives.busybox, archives.err = images.BuildBusybox(dir, images.BusyboxRef); archives.err != nil {
			return
		}
		archives.web, archives.err = images.BuildWebImage(dir, images.WebRef)
	})
	if archives.err != nil {
		t.Fatalf("build test images: %v", archives.err)
	}
	return archives.web, archives.busybox
}

type env struct {
	cfg Config
	rt  *Runtime
}

// startRuntime starts a private containerd in a temp dir with both test
// images imported. Cleanup removes every container, then stops the daemon.
func startRuntime(t *testing.T) *env {
	t.Helper()
	images.RequireHost(t, "containerd", "runc", images.BusyboxPath, "go")
	dir := t.TempDir()
	cfg := Config{
		Root:      filepath.Join(dir, "root"),
		State:     filepath.Join(dir, "state"),
		DataDir:   filepath.Join(dir, "data"),
		Namespace: fmt.Sprintf("skiff-test-%d", rand.IntN(1_000_000)),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	e := &env{cfg: cfg}
	e.restart(t)
	t.Cleanup(func() {
		ctx := context.Background()
		list, err := e.rt.ListContainers(ctx)
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, c := range list {
			if err := e.rt.RemoveContainer(ctx, c.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		e.rt.Close()
	})
	web, busybox := imageArchives(t)
	for _, p := range []string{web, busybox} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.rt.ImportImage(context.Background(), f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// restart connects a new Runtime (and private daemon) to the same
// directories, as an agent that restarted would.
func (e *env) restart(t *testing.T) {
	t.Helper()
	if e.rt != nil {
		if err := e.rt.Close(); err != nil {
			t.Fatalf("close runtime: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt, err := Start(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
}

func testPod(name string) Pod {
	return Pod{UID: fmt.Sprintf("%08x-0000-4000-8000-%012x", rand.Uint32(), rand.Uint64()&0xffffffffffff), Namespace: "default", Name: name}
}

func run(t *testing.T, rt *Runtime, pod Pod, c api.Container, attempt int) string {
	t.Helper()
	ctx := context.Background()
	spec, err := SpecFromAPI(&c, attempt, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateContainer(ctx, pod, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitExit(t *testing.T, rt *Runtime, id string) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := rt.WaitContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ex := <-ch
	if ex.Err != nil {
		t.Fatal(ex.Err)
	}
	return ex
}

func readLogs(t *testing.T, rt *Runtime, pod Pod, container string, opts LogOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := rt.Logs(context.Background(), pod.UID, container, opts, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// eventually retries check for up to 10 s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestWebPodOnBridgeNetwork(t *testing.T) {
	images.RequireHost(t, "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "iptables")
	e := startRuntime(t)
	ctx := context.Background()

	network, err := bridge.New(bridge.Config{
		Subnet:      fmt.Sprintf("10.232.%d.0/24", 100+rand.IntN(150)),
		DataDir:     t.TempDir(),
		Bridge:      fmt.Sprintf("skr%d", rand.IntN(1_000_000)),
		Network:     "skiff-rt-test",
		NetNSPrefix: fmt.Sprintf("skiff-rt%d-", rand.IntN(1000)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := network.Teardown(context.Background()); err != nil {
			t.Errorf("network teardown: %v", err)
		}
	})

	pod := testPod("web-0")
	att, err := network.Attach(ctx, bridge.PodRef{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name})
	if err != nil {
		t.Fatal(err)
	}
	pod.NetNSPath = att.NetNSPath
	dnsDir := t.TempDir()
	pod.ResolvConfPath = filepath.Join(dnsDir, "resolv.conf")
	os.WriteFile(pod.ResolvConfPath, []byte("nameserver 10.96.0.10\nsearch default.svc.cluster.local\n"), 0o644)
	volume := t.TempDir()
	os.WriteFile(filepath.Join(volume, "greeting"), []byte("hi from a volume\n"), 0o644)

	web := api.Container{
		Name:  "web",
		Image: images.WebRef,
		Env:   []api.EnvVar{{Name: "GREETING", Value: "hello"}},
		Resources: api.ResourceRequirements{Limits: api.ResourceList{
			"memory": resource.MustParse("64Mi"),
			"cpu":    resource.MustParse("500m"),
		}},
		VolumeMounts: []api.VolumeMount{{Name: "config", MountPath: "/config", ReadOnly: true}},
	}
	spec, err := SpecFromAPI(&web, 0, []Mount{{HostPath: volume, ContainerPath: "/config", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.rt.CreateContainer(ctx, pod, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}

	url := "http://" + att.IP.String() + ":8080/"
	var body string
	eventually(t, "GET "+url, func() (err error) { body, err = httpGet(url); return err })
	if want := "hostname=web-0 ip=" + att.IP.String(); !strings.Contains(body, want) {
		t.Fatalf("GET / = %q, want it to contain %q", body, want)
	}
	eventually(t, "request line in the logs", func() error {
		if logs := readLogs(t, e.rt, pod, "web", LogOptions{}); !strings.Contains(logs, "GET / 200") {
			return fmt.Errorf("logs = %q", logs)
		}
		return nil
	})

	exec := func(stdin io.Reader, cmd ...string) (string, int32) {
		t.Helper()
		var out bytes.Buffer
		code, err := e.rt.Exec(ctx, id, ExecOptions{Command: cmd, Stdin: stdin, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	if out, code := exec(nil, "cat", "/etc/hostname"); strings.TrimSpace(out) != "web-0" || code != 0 {
		t.Fatalf("exec cat /etc/hostname = %q (exit %d), want web-0", out, code)
	}
	if out, _ := exec(nil, "hostname"); strings.TrimSpace(out) != "web-0" {
		t.Fatalf("exec hostname = %q, want web-0", out)
	}
	if out, _ := exec(nil, "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver 10.96.0.10") {
		t.Fatalf("resolv.conf in the container = %q", out)
	}
	if out, _ := exec(nil, "sh", "-c", "echo $GREETING; cat /config/greeting; touch /config/x 2>/dev/null || echo read-only"); out != "hello\nhi from a volume\nread-only\n" {
		t.Fatalf("env/volume check = %q", out)
	}
	if out, code := exec(strings.NewReader("piped through stdin\n"), "cat"); out != "piped through stdin\n" || code != 0 {
		t.Fatalf("exec cat with stdin = %q (exit %d)", out, code)
	}
	if _, code := exec(nil, "sh", "-c", "exit 7"); code != 7 {
		t.Fatalf("exec exit code = %d, want 7", code)
	}

	// The memory and CPU limits are in the container's cgroup.
	ociSpec, err := mustContainer(t, e.rt, id).Spec(e.rt.ns(ctx))
	if err != nil {
		t.Fatal(err)
	}
	limit := readCgroup(t, "memory", ociSpec.Linux.CgroupsPath, "memory.limit_in_bytes", "memory.max")
	if limit != fmt.Sprint(64<<20) {
		t.Fatalf("cgroup memory limit = %s, want %d", limit, 64<<20)
	}
	if quota := readCgroup(t, "cpu", ociSpec.Linux.CgroupsPath, "cpu.cfs_quota_us", "cpu.max"); !strings.HasPrefix(quota, "50000") {
		t.Fatalf("cgroup cpu quota = %s, want 50000 per 100000", quota)
	}

	// An agent restart (new Runtime, new private daemon) adopts the running
	// container, and its output keeps reaching the log file.
	e.restart(t)
	list, err := e.rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].State != StateRunning || list[0].PodUID != pod.UID || list[0].Name != "web" {
		t.Fatalf("after restart ListContainers = %+v, want the running web container %s", list, id)
	}
	if _, err := httpGet(url + "healthz"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "request after the restart in the logs", func() error {
		if logs := readLogs(t, e.rt, pod, "web", LogOptions{Tail: 1}); !strings.Contains(logs, "GET /healthz 200") {
			return fmt.Errorf("last log line = %q", logs)
		}
		return nil
	})

	// The web app exits 0 on SIGTERM, well within the grace period.
	start := time.Now()
	if err := e.rt.StopContainer(ctx, id, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("stop took %s: the web app did not exit on SIGTERM", took)
	}
	st, err := e.rt.ContainerStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateExited || st.ExitCode != 0 || st.Reason != ReasonCompleted || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) || !strings.HasPrefix(st.ImageID, "sha256:") {
		t.Fatalf("status after SIGTERM = %+v, want exited 0 Completed with start/finish times", st)
	}
	if logs := readLogs(t, e.rt, pod, "web", LogOptions{}); !strings.Contains(logs, "web: stopped") {
		t.Fatalf("logs lack the shutdown line: %q", logs)
	}

	if err := e.rt.RemovePod(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.ContainerStatus(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("status after RemovePod: err = %v, want ErrNotFound", err)
	}
	if err := network.Detach(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(network.IPAMDir(), att.IP.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("IP %s still leased after detach: %v", att.IP, err)
	}
}

func mustContainer(t *testing.T, rt *Runtime, id string) interface {
	Spec(context.Context) (*oci.Spec, error)
} {
	t.Helper()
	c, err := rt.client.LoadContainer(rt.ns(context.Background()), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readCgroup reads a cgroup file of the container, v1 (controller dir) or
// v2 (unified), trimmed.
func readCgroup(t *testing.T, controller, cgroupPath, v1File, v2File string) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", controller, cgroupPath, v1File),
		filepath.Join("/sys/fs/cgroup", cgroupPath, v2File),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("no cgroup file %s or %s for %s", v1File, v2File, cgroupPath)
	return ""
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	e := startRuntime(t)
	pod := testPod("stubborn")
	id := run(t, e.rt, pod, api.Container{Name: "sleeper", Image: images.BusyboxRef,
		Command: []string{"sh", "-c", "trap '' TERM; echo ready; sleep 1000 & wait"}}, 0)
	eventually(t, "sleeper ready", func() error {
		if logs := readLogs(t, e.rt, pod, "sleeper", LogOptions{}); logs != "ready\n" {
			return fmt.Errorf("logs = %q", logs)
		}
		return nil
	})
	grace := 1500 * time.Millisecond
	start := time.Now()
	if err := e.rt.StopContainer(context.Background(), id, grace); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < grace {
		t.Fatalf("stop returned after %s, before the %s grace period", took, grace)
	}
	st, err := e.rt.ContainerStatus(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateExited || st.ExitCode != 128+int32(syscall.SIGKILL) || st.Reason != ReasonError {
		t.Fatalf("status = %+v, want exited 137 (SIGKILL) Error", st)
	}
	// Stopping an exited container succeeds.
	if err := e.rt.StopContainer(context.Background(), id, grace); err != nil {
		t.Fatal(err)
	}
}

func TestExitCodesAndLogAttempts(t *testing.T) {
	e := startRuntime(t)
	pod := testPod("job")
	ctx := context.Background()

	// stdout and stderr are separate FIFOs copied concurrently: only time
	// orders lines across them, hence the pause.
	first := run(t, e.rt, pod, api.Container{Name: "main", Image: images.BusyboxRef,
		Command: []string{"sh", "-c"}, Args: []string{"echo first; sleep 0.2; echo oops >&2; exit 3"}}, 0)
	if ex := waitExit(t, e.rt, first); ex.Code != 3 {
		t.Fatalf("exit code = %d, want 3", ex.Code)
	}
	st, err := e.rt.ContainerStatus(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateExited || st.ExitCode != 3 || st.Reason != ReasonError || st.Attempt != 0 {
		t.Fatalf("status = %+v, want exited 3 Error attempt 0", st)
	}

	// Restart as attempt 1: a new container with its own log file.
	second := run(t, e.rt, pod, api.Container{Name: "main", Image: images.BusyboxRef,
		Command: []string{"sh"}, Args: []string{"-c", "echo second; printf 'no newline'"}}, 1)
	if ex := waitExit(t, e.rt, second); ex.Code != 0 {
		t.Fatalf("exit code = %d, want 0", ex.Code)
	}
	if st, _ := e.rt.ContainerStatus(ctx, second); st.Reason != ReasonCompleted {
		t.Fatalf("status = %+v, want Completed", st)
	}
	eventually(t, "logs of both attempts", func() error {
		cur := readLogs(t, e.rt, pod, "main", LogOptions{})
		prev := readLogs(t, e.rt, pod, "main", LogOptions{Previous: true})
		if cur != "second\nno newline" || prev != "first\noops\n" {
			return fmt.Errorf("current = %q, previous = %q", cur, prev)
		}
		return nil
	})
	if tail := readLogs(t, e.rt, pod, "main", LogOptions{Tail: 1, Previous: true}); tail != "oops\n" {
		t.Fatalf("tail 1 of previous = %q, want oops", tail)
	}
	if ts := readLogs(t, e.rt, pod, "main", LogOptions{Tail: 1, Previous: true, Timestamps: true}); !strings.HasSuffix(ts, "Z oops\n") {
		t.Fatalf("timestamped line = %q", ts)
	}
	if err := e.rt.Logs(ctx, pod.UID, "other", LogOptions{}, io.Discard); !errors.Is(err, ErrNoLogs) {
		t.Fatalf("logs of a container that never ran: err = %v, want ErrNoLogs", err)
	}
}

func TestFollowLogsUntilExit(t *testing.T) {
	e := startRuntime(t)
	pod := testPod("ticker")
	run(t, e.rt, pod, api.Container{Name: "tick", Image: images.BusyboxRef,
		Command: []string{"sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done"}}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	if err := e.rt.Logs(ctx, pod.UID, "tick", LogOptions{Follow: true}, &buf); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("follow did not end when the container exited")
	}
	if buf.String() != "tick 1\ntick 2\ntick 3\n" {
		t.Fatalf("followed logs = %q", buf.String())
	}
}

func TestOOMKilled(t *testing.T) {
	e := startRuntime(t)
	pod := testPod("hog")
	id := run(t, e.rt, pod, api.Container{Name: "hog", Image: images.BusyboxRef,
		Command:   []string{"sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"},
		Resources: api.ResourceRequirements{Limits: api.ResourceList{"memory": resource.MustParse("16Mi")}}}, 0)
	waitExit(t, e.rt, id)
	eventually(t, "OOMKilled reason", func() error {
		st, err := e.rt.ContainerStatus(context.Background(), id)
		if err != nil {
			return err
		}
		if st.Reason != ReasonOOMKilled {
			return fmt.Errorf("status = %+v", st)
		}
		return nil
	})
}

func TestPullFromLoopbackRegistry(t *testing.T) {
	e := startRuntime(t)
	ctx := context.Background()
	img, err := images.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	host := images.ServeRegistry(t, map[string]v1.Image{"test/busybox:pulled": img})
	ref := host + "/test/busybox:pulled"

	if _, err := e.rt.EnsureImage(ctx, ref, PullNever); !errors.Is(err, ErrImageNeverPull) {
		t.Fatalf("Never on a missing image: err = %v, want ErrImageNeverPull", err)
	}
	got, err := e.rt.EnsureImage(ctx, ref, PullIfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if got.ID != want.String() {
		t.Fatalf("pulled image id = %s, want %s", got.ID, want)
	}
	if _, err := e.rt.EnsureImage(ctx, ref, PullNever); err != nil {
		t.Fatalf("Never on a present image: %v", err)
	}
	pod := testPod("pulled")
	id := run(t, e.rt, pod, api.Container{Name: "c", Image: ref, Command: []string{"true"}}, 0)
	if ex := waitExit(t, e.rt, id); ex.Code != 0 {
		t.Fatalf("container from the pulled image exited %d", ex.Code)
	}

	_, err = e.rt.EnsureImage(ctx, host+"/test/missing:1", PullAlways)
	var pullErr *PullError
	if !errors.As(err, &pullErr) || !strings.Contains(pullErr.Message, "not found") || !strings.Contains(err.Error(), "test/missing:1") {
		t.Fatalf("pull of a missing image: err = %v, want a PullError saying not found", err)
	}
}

func TestPrivateDaemonRestartsAfterCrash(t *testing.T) {
	e := startRuntime(t)
	old := e.rt.DaemonPID()
	if old == 0 {
		t.Fatal("no private containerd pid")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "containerd restarted", func() error {
		pid := e.rt.DaemonPID()
		if pid == 0 || pid == old {
			return fmt.Errorf("pid = %d", pid)
		}
		_, err := e.rt.Client().Version(context.Background())
		return err
	})
	// The restarted daemon kept the imported images.
	if _, err := e.rt.EnsureImage(context.Background(), images.BusyboxRef, PullNever); err != nil {
		t.Fatal(err)
	}
}
