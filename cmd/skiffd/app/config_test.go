package app

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/apiserver"
	"github.com/skiff-sh/skiff/core/node"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "skiffd.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func parseFlags(t *testing.T, args ...string) *Config {
	t.Helper()
	cmd := newServerCommand()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	path, _ := cmd.Flags().GetString("config")
	cfg, err := loadConfig(path, cmd.Flags())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfigPrecedenceFileEnvFlags(t *testing.T) {
	path := writeConfig(t, `
data-dir: /from/file
listen: 127.0.0.1:7000
store:
  endpoints: [http://127.0.0.1:2379]
  compaction-retention: 10m
`)
	cfg := parseFlags(t, "--config", path)
	if cfg.DataDir != "/from/file" || cfg.Listen != "127.0.0.1:7000" {
		t.Fatalf("file not applied: %+v", cfg)
	}
	if cfg.Store.CompactionRetention != 10*time.Minute || cfg.Store.Prefix != "/skiff" {
		t.Fatalf("store: %+v", cfg.Store)
	}

	t.Setenv("SKIFF_LISTEN", "127.0.0.1:7001")
	t.Setenv("SKIFF_STORE__ENDPOINTS", "http://127.0.0.1:1,http://127.0.0.1:2")
	cfg = parseFlags(t, "--config", path)
	if cfg.Listen != "127.0.0.1:7001" {
		t.Fatalf("env must override file, got listen %q", cfg.Listen)
	}
	if len(cfg.Store.Endpoints) != 2 || cfg.Store.Endpoints[1] != "http://127.0.0.1:2" {
		t.Fatalf("env list: %v", cfg.Store.Endpoints)
	}
	if cfg.DataDir != "/from/file" {
		t.Fatalf("an unset flag's default must not override the file, got %q", cfg.DataDir)
	}

	cfg = parseFlags(t, "--config", path, "--listen", "127.0.0.1:7002", "--data-dir", "/from/flag")
	if cfg.Listen != "127.0.0.1:7002" || cfg.DataDir != "/from/flag" {
		t.Fatalf("flags must override env and file: %+v", cfg)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := parseFlags(t)
	if cfg.DataDir != "/var/lib/skiff" || cfg.Listen != "127.0.0.1:6443" || len(cfg.Store.Endpoints) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestConfigRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":      {"lisen: 127.0.0.1:1\n", "lisen"},
		"bad listen":       {"listen: nowhere\n", "listen"},
		"endpoint scheme":  {"store: {endpoints: [127.0.0.1:2379]}\n", "store.endpoints[0]"},
		"half a key pair":  {"store: {cert-file: /etc/hostname}\n", "store.cert-file and store.key-file"},
		"bad duration":     {"store: {compaction-retention: soon}\n", "compaction-retention"},
		"malformed yaml":   {"store: [\n", "skiffd.yaml"},
		"prefix not slash": {"store: {prefix: skiff}\n", "store.prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := newServerCommand()
			_, err := loadConfig(writeConfig(t, tc.body), cmd.Flags())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestAdvertiseAddressKey(t *testing.T) {
	cfg := parseFlags(t, "--config", writeConfig(t, "advertise-address: 192.0.2.10\n"))
	if cfg.AdvertiseAddress != "192.0.2.10" {
		t.Fatalf("file: %q", cfg.AdvertiseAddress)
	}
	for _, bad := range []string{"api.example.com", "192.0.2.10:6443", "127.0.0.1", "0.0.0.0", "2001:db8::1"} {
		cmd := newServerCommand()
		_, err := loadConfig(writeConfig(t, "advertise-address: \""+bad+"\"\n"), cmd.Flags())
		if err == nil || !strings.HasPrefix(err.Error(), "advertise-address: ") || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: want an error naming advertise-address and the value, got %v", bad, err)
		}
	}
	t.Setenv("SKIFF_ADVERTISE_ADDRESS", "192.0.2.11")
	if cfg = parseFlags(t); cfg.AdvertiseAddress != "192.0.2.11" {
		t.Fatalf("env: %q", cfg.AdvertiseAddress)
	}
	if cfg = parseFlags(t, "--advertise-address", "192.0.2.12"); cfg.AdvertiseAddress != "192.0.2.12" {
		t.Fatalf("flag: %q", cfg.AdvertiseAddress)
	}
}

func TestAdvertiseAddressChoice(t *testing.T) {
	route := func() (net.IP, bool) { return net.ParseIP("10.1.2.3"), true }
	noRoute := func() (net.IP, bool) { return nil, false }
	for name, tc := range map[string]struct {
		listen, configured string
		routeIP            func() (net.IP, bool)
		want               string
	}{
		"configured wins":              {"0.0.0.0:6443", "192.0.2.10", route, "192.0.2.10"},
		"configured over loopback":     {"127.0.0.1:6443", "192.0.2.10", route, "192.0.2.10"},
		"all IPv4 addresses":           {"0.0.0.0:6443", "", route, "10.1.2.3"},
		"all IPv6 addresses":           {"[::]:6443", "", route, "10.1.2.3"},
		"empty host":                   {":6443", "", route, "10.1.2.3"},
		"all addresses, no route":      {"0.0.0.0:6443", "", noRoute, ""},
		"specific: the API server's":   {"10.9.9.9:6443", "", route, ""},
		"loopback: the API server's":   {"127.0.0.1:6443", "", route, ""},
		"hostname: the bound socket's": {"localhost:6443", "", route, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := &Config{Listen: tc.listen, AdvertiseAddress: tc.configured}
			if got := c.advertiseAddress(tc.routeIP); got != tc.want {
				t.Fatalf("listen %q, advertise-address %q: got %q, want %q", tc.listen, tc.configured, got, tc.want)
			}
		})
	}
}

func TestDefaultRouteIP(t *testing.T) {
	ip, ok := node.DefaultRouteIP()
	if !ok {
		t.Skip("this host has no non-loopback IPv4 address")
	}
	if ip.To4() == nil || ip.IsLoopback() || ip.IsUnspecified() {
		t.Fatalf("node.DefaultRouteIP: %s is not a reachable IPv4 address", ip)
	}
	if err := apiserver.CheckAdvertiseAddress(ip.String()); err != nil {
		t.Fatalf("the derived address must pass the key's own check: %v", err)
	}
}

// Pods reach the API server as the `skiff` Service: the certificate must
// cover its cluster IP and names, and the advertised address.
func TestServingSANs(t *testing.T) {
	cfg := parseFlags(t, "--config", writeConfig(t, "api: {extra-sans: [api.example.com]}\nservices: {cidr: 10.100.0.0/16, cluster-domain: corp.local}\n"))
	sans, err := cfg.servingSANs("192.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"api.example.com", "10.100.0.1", "skiff", "skiff.default", "skiff.default.svc", "skiff.default.svc.corp.local", "192.0.2.10"}
	if !slices.Equal(sans, want) {
		t.Fatalf("SANs %v, want %v", sans, want)
	}
	if sans, _ := cfg.servingSANs(""); slices.Contains(sans, "") || len(sans) != len(want)-1 {
		t.Fatalf("no advertise address: SANs %v", sans)
	}
	if len(cfg.API.ExtraSANs) != 1 {
		t.Fatalf("servingSANs must not change api.extra-sans: %v", cfg.API.ExtraSANs)
	}
}
