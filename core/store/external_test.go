package store

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

// etcdBinary is Debian's etcd-server; scripts/install-deps.sh installs it.
const etcdBinary = "/usr/bin/etcd"

// freePort asks the kernel for a free loopback port. Another process could
// take it before etcd binds it; startExternalEtcd then fails with a clear error.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startExternalEtcd runs the etcd binary on free loopback ports in a temp
// dir and returns its client URL; cleanup kills it.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(etcdBinary); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing in CI: install the etcd-server package (make deps runs scripts/install-deps.sh)", etcdBinary)
		}
		t.Skipf("%s not found: install the etcd-server package (make deps) to test against an external etcd", etcdBinary)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	var logs bytes.Buffer
	cmd := exec.Command(etcdBinary,
		"--name", "ext",
		"--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "ext="+peer,
		"--logger", "zap", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", etcdBinary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited on its own already
		<-exited
		if t.Failed() {
			t.Logf("etcd output:\n%s", logs.String())
		}
	})
	return client
}

func TestExternalEtcd(t *testing.T) {
	endpoint := startExternalEtcd(t)
	ctx := testContext(t)

	// The server needs a moment to come up; ConnectExternal says when it is.
	var cli *clientv3.Client
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		cli, err = ConnectExternal(ctx, ExternalConfig{Endpoints: []string{endpoint}, DialTimeout: time.Second})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("external etcd never answered: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer cli.Close()

	s := NewEtcd(cli, "/skiff")
	defer s.Close()
	cms := resource(t, "ConfigMap")
	w, err := s.Watch(ctx, cms, "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created := mustCreate(t, ctx, s, configMap("default", "ext", nil, map[string]string{"k": "1"}))
	first := api.DeepCopy(created).(*api.ConfigMap)
	first.Data["k"] = "2"
	updated, err := s.Update(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	second := api.DeepCopy(created).(*api.ConfigMap) // still at the created revision
	second.Data["k"] = "3"
	if _, err := s.Update(ctx, second); !api.IsConflict(err) {
		t.Fatalf("update from a stale revision: %v, want Conflict", err)
	}
	expectEvent(t, w, Added, "default/ext", rv(t, created))
	if e := expectEvent(t, w, Modified, "default/ext", rv(t, updated)); e.Object.(*api.ConfigMap).Data["k"] != "2" {
		t.Errorf("modified event carries %v, want k=2", e.Object.(*api.ConfigMap).Data)
	}
}

func TestConnectExternalNamesEndpoints(t *testing.T) {
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)) // nothing listens there
	_, err := ConnectExternal(testContext(t), ExternalConfig{Endpoints: []string{endpoint}, DialTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), endpoint) {
		t.Errorf("connect to a dead endpoint: %v, want an error naming %s", err, endpoint)
	}
	if _, err := ConnectExternal(testContext(t), ExternalConfig{}); err == nil {
		t.Error("connect without endpoints succeeded")
	}
	if _, err := ConnectExternal(testContext(t), ExternalConfig{Endpoints: []string{endpoint}, CertFile: "/nonexistent.pem"}); err == nil || !strings.Contains(err.Error(), "must be given together") {
		t.Errorf("cert without key: %v", err)
	}
}
