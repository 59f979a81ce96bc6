package harness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/client"
)

// Real skiff processes on a cluster: `skiffd server` on the host side of
// the underlay (reachable from every node at HostIP) and one `skiffd agent`
// per node namespace, each with its private containerd.

var binaries struct {
	once  sync.Once
	dir   string
	built bool
	err   error
}

// Binaries returns skiffd and skiff, built once per test binary into a
// temporary directory (RemoveBinaries removes it) or taken from
// SKIFF_BIN_DIR (e.g. bin/ after `make build`).
func Binaries(t testing.TB) (skiffd, skiff string) {
	t.Helper()
	b := &binaries
	b.once.Do(func() {
		if dir := os.Getenv("SKIFF_BIN_DIR"); dir != "" {
			b.dir = dir
			return
		}
		if b.dir, b.err = os.MkdirTemp("", "skiff-e2e-bin-"); b.err != nil {
			return
		}
		b.built = true
		cmd := exec.Command("go", "build", "-o", b.dir+"/", "github.com/skiff-sh/skiff/cmd/skiffd", "github.com/skiff-sh/skiff/cmd/skiff")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build skiffd and skiff: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return filepath.Join(b.dir, "skiffd"), filepath.Join(b.dir, "skiff")
}

// RemoveBinaries removes binaries Binaries built; call it from TestMain.
func RemoveBinaries() {
	if binaries.built {
		os.RemoveAll(binaries.dir)
	}
}

// process is a skiffd child whose output goes to a log file.
type process struct {
	name string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan error
}

// start runs the process; with netns, inside that network namespace through
// nsenter, which changes nothing else (`ip netns exec` would remount /sys
// and hide the cgroup mounts runc needs).
func (p *process) start(netns string) error {
	logFile, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := p.args
	if netns != "" {
		args = append([]string{"nsenter", "--net=" + netns}, args...)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait(); logFile.Close() }()
	return nil
}

// exited returns the exit error when the process has ended.
func (p *process) exited() (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return err, true
	default:
		return nil, false
	}
}

// stop ends the process with SIGTERM, as an init system would, and kills it
// after 30 s.
func (p *process) stop() error {
	if p.cmd == nil {
		return nil
	}
	defer func() { p.cmd = nil }()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}

// LogTail is the last lines of the process's log.
func (p *process) LogTail(lines int) string {
	data, _ := os.ReadFile(p.log)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// LogCount is how many lines of the process's log contain substr (the log
// is appended to across restarts).
func (p *process) LogCount(substr string) int {
	data, _ := os.ReadFile(p.log)
	return strings.Count(string(data), substr)
}

// cleanEnv is the environment without SKIFF_* variables, which skiffd
// would read as configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SKIFF_") {
			env = append(env, kv)
		}
	}
	return env
}

// Server is `skiffd server --agent=false` listening on the cluster's
// HostIP.
type Server struct {
	process
	URL       string
	DataDir   string
	AdminConf string
	CAFile    string
	Token     string
	skiff     string
}

// StartServer starts the control plane for c's nodes and waits until it
// answers; t's cleanup stops it. extraConfig is appended to its config file.
func (c *Cluster) StartServer(t testing.TB, extraConfig string) *Server {
	t.Helper()
	skiffd, skiff := Binaries(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", net.JoinHostPort(c.HostIP.String(), "0"))
	if err != nil {
		t.Fatalf("harness: a free port on %s: %v", c.HostIP, err)
	}
	listen := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf("data-dir: %s\nlisten: %s\napi: {extra-sans: [%s]}\nagent: {enabled: false}\n%s",
		filepath.Join(dir, "state"), listen, c.HostIP, extraConfig)
	confPath := filepath.Join(dir, "skiffd.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{
		process: process{name: "skiffd server", args: []string{skiffd, "server", "--config", confPath}, log: filepath.Join(dir, "skiffd.log")},
		URL:     "https://" + listen, DataDir: dir, AdminConf: filepath.Join(dir, "state", "admin.conf"), skiff: skiff,
	}
	if err := s.start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	s.Eventually(t, 60*time.Second, "the API server to answer", func() error {
		if err, done := s.exited(); done {
			return fmt.Errorf("skiffd server exited: %v", err)
		}
		_, err := s.Skiff(nil, "get", "nodes")
		return err
	})
	cc, err := client.LoadConfig(s.AdminConf)
	if err != nil {
		t.Fatal(err)
	}
	s.Token, s.CAFile = cc.Token, filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(s.CAFile, []byte(cc.CertificateAuthorityData), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// Skiff runs the skiff CLI against the server.
func (s *Server) Skiff(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(s.skiff, args...)
	cmd.Env = append(cleanEnv(), "SKIFF_CONFIG="+s.AdminConf)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("skiff %s: %v: %s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// Eventually retries fn every 250 ms until it succeeds, failing t with
// fn's last error after timeout.
func (s *Server) Eventually(t testing.TB, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if err = fn(); err == nil {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s: %v\n--- skiffd server log (tail) ---\n%s", timeout, what, err, s.LogTail(30))
}

// Agent is `skiffd agent` in a node's namespace, with its data in the
// node's DataDir and a private containerd.
type Agent struct {
	process
	Node *Node
	// Name is the Node's name: the harness node's, prefixed with the
	// cluster ID so that concurrent tests' containerd states never collide.
	Name string
	// Config is the agent's config file (SetConfig replaces it).
	Config string
}

// StartAgent starts an agent on n with config (skiffd.yaml keys: network,
// agent, ...) and returns at once; t's cleanup stops it and removes its
// containerd state. Stop the node's pods first: their containers outlive
// the agent, as they do on a real node.
func (s *Server) StartAgent(t testing.TB, n *Node, config string) *Agent {
	t.Helper()
	skiffd, _ := Binaries(t)
	a := &Agent{Node: n, Name: "skh" + strings.TrimPrefix(n.NetNS, filepath.Join(NetNSDir, "skh")), Config: filepath.Join(n.DataDir, "skiffd.yaml")}
	a.process = process{name: "skiffd agent on " + n.Name, log: filepath.Join(n.DataDir, "agent.log"), args: []string{
		skiffd, "agent", "--config", a.Config, "--server", s.URL, "--token", s.Token, "--ca-file", s.CAFile,
		"--data-dir", filepath.Join(n.DataDir, "skiff"), "--node-name", a.Name, "--node-ip", n.IP.String(),
		"--listen", net.JoinHostPort(n.IP.String(), "10250"),
	}}
	a.SetConfig(t, config)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Error(err)
		}
		os.RemoveAll(filepath.Join("/run/skiff", "skiff-"+a.Name))
	})
	return a
}

// SetConfig writes the agent's config file; a restart reads it.
func (a *Agent) SetConfig(t testing.TB, config string) {
	t.Helper()
	if err := os.WriteFile(a.Config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Start starts the agent (again, after Stop).
func (a *Agent) Start() error { return a.start(a.Node.NetNS) }

// Stop stops the agent; its pods' containers keep running.
func (a *Agent) Stop() error { return a.stop() }

// Exited returns the agent's exit error once it has ended.
func (a *Agent) Exited() (error, bool) { return a.exited() }

// Teardown runs `skiffd agent --teardown` with the agent's configuration:
// the node's fabric, pod attachments and proxy rules go.
func (a *Agent) Teardown() error {
	args := append([]string{"nsenter", "--net=" + a.Node.NetNS}, a.args...)
	cmd := exec.Command(args[0], append(args[1:], "--teardown")...)
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("skiffd agent --teardown on %s: %v\n%s", a.Node.Name, err, out)
	}
	return nil
}
