package app

import (
	"strings"
	"testing"
)

func TestServicesConfig(t *testing.T) {
	t.Setenv("SKIFF_SERVICES__CIDR", "10.100.0.0/16")
	t.Setenv("SKIFF_SERVICES__NODE_PORT_RANGE", "31000-31999")
	cfg, err := loadConfig("", newServerCommand().Flags())
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Services.network(); n.CIDR != "10.100.0.0/16" || n.NodePortRange != "31000-31999" {
		t.Fatalf("API server service network: %+v", n)
	}
	sc, err := nodeServices(cfg.Services, cfg.DNS)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Proxy == nil || sc.DNS == nil || sc.DNSServiceIP != "10.100.0.10" {
		t.Fatalf("agent services: %+v, want the proxy and the DNS at 10.100.0.10", sc)
	}
	if sc, _ := nodeServices(cfg.Services, DNSConfig{Enabled: false}); sc.DNS != nil || sc.Proxy == nil {
		t.Fatalf("dns.enabled=false: %+v, want the proxy only", sc)
	}

	for env, want := range map[string]string{
		"SKIFF_SERVICES__CIDR":            "services.cidr",
		"SKIFF_SERVICES__NODE_PORT_RANGE": "services.node-port-range",
		"SKIFF_SERVICES__CLUSTER_DOMAIN":  "services.cluster-domain",
	} {
		t.Run(want, func(t *testing.T) {
			t.Setenv(env, ".bad.")
			_, err := loadConfig("", newServerCommand().Flags())
			if err == nil || !strings.HasPrefix(err.Error(), want+": ") {
				t.Fatalf("%s=.bad.: got %v, want an error naming %s", env, err, want)
			}
		})
	}
}
