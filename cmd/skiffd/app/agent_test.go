package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/client"
)

// agentConfig parses `skiffd agent` arguments the way the command does.
func agentConfig(t *testing.T, file string, args ...string) (*Config, error) {
	t.Helper()
	cmd := newAgentCommand()
	if file != "" {
		path := filepath.Join(t.TempDir(), "skiffd.yaml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(cmd.Flag("config").Value.String(), flagsAsKeys(cmd.Flags()))
}

func TestAgentConfigFileAndFlags(t *testing.T) {
	file := "network: {backend: overlay, args: {vni: 42}}\nagent: {node-ip: 172.31.0.1, node-name: a}\n"
	cfg, err := agentConfig(t, file, "--node-name", "b", "--dns=false")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Network.Backend != "overlay" || cfg.Network.Args["vni"] != 42 || cfg.Agent.NodeIP != "172.31.0.1" {
		t.Fatalf("file keys not read: network %+v, agent %+v", cfg.Network, cfg.Agent)
	}
	if cfg.Agent.NodeName != "b" || cfg.DNS.Enabled {
		t.Fatalf("flags do not override the file: node-name %q, dns %v", cfg.Agent.NodeName, cfg.DNS.Enabled)
	}
	if singleNode(cfg.Network) {
		t.Fatal("overlay taken for the single-node bridge")
	}
	cfg, err = agentConfig(t, "network: {backend: overlay}\n", "--network-backend", "routed")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Network.Backend != "routed" {
		t.Fatalf("--network-backend routed: backend %v", cfg.Network.Backend)
	}
	cfg, err = agentConfig(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if !singleNode(cfg.Network) || cfg.Agent.Listen != ":10250" || cfg.Services.CIDR != "10.96.0.0/12" {
		t.Fatalf("defaults: network %+v, agent %+v, services %+v", cfg.Network, cfg.Agent, cfg.Services)
	}
}

// Bad network input stops the agent before it starts a runtime or touches
// the host, with an error naming the key.
func TestAgentRejectsBadNetworkInput(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"vni out of range", "network: {backend: overlay, args: {vni: 16777216}}\n", nil, "args.vni: must be between 1 and 16777215"},
		{"unknown backend", "", []string{"--network-backend", "weave"}, `"weave"`},
		{"cluster CIDR overlaps services", "agent: {cluster-cidr: 10.96.0.0/16}\n", nil, "overlaps the service CIDR"},
		{"cluster CIDR too small", "", []string{"--cluster-cidr", "10.244.0.0/24"}, "too small"},
		{"cluster CIDR holds the node IP", "", []string{"--cluster-cidr", "172.31.0.0/16", "--node-ip", "172.31.0.1"}, "overlaps the node network"},
		{"node IP not an address", "", []string{"--node-ip", "node-1"}, "agent.node-ip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := agentConfig(t, tc.file, tc.args...)
			if err == nil {
				dir := t.TempDir()
				cfg.Agent.DataDir = dir
				err = runAgent(context.Background(), cfg, &client.Config{Server: "https://127.0.0.1:1", Token: "t"})
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Errorf("the agent wrote %d entries in its data dir before failing", len(entries))
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// agent.seccomp-dir defaults to the agent's data dir's seccomp, as the
// kubelet's <root-dir>/seccomp; the file and --seccomp-dir set it.
func TestAgentSeccompDir(t *testing.T) {
	seccompDir := func(file string, args ...string) string {
		t.Helper()
		cfg, err := agentConfig(t, file, args...)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Agent.defaults(cfg.DataDir); err != nil {
			t.Fatal(err)
		}
		return cfg.Agent.SeccompDir
	}
	if got := seccompDir("", "--data-dir", "/srv/skiff"); got != "/srv/skiff/agent/seccomp" {
		t.Errorf("default seccomp dir %q, want /srv/skiff/agent/seccomp", got)
	}
	if got := seccompDir("agent: {data-dir: /a}\n"); got != "/a/seccomp" {
		t.Errorf("with agent.data-dir /a: seccomp dir %q, want /a/seccomp", got)
	}
	file := "agent: {seccomp-dir: /etc/skiff/seccomp}\n"
	if got := seccompDir(file); got != "/etc/skiff/seccomp" {
		t.Errorf("agent.seccomp-dir from the file: %q", got)
	}
	if got := seccompDir(file, "--seccomp-dir", "/opt/profiles"); got != "/opt/profiles" {
		t.Errorf("--seccomp-dir does not override the file: %q", got)
	}
}
