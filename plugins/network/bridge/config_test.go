package bridge

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConfList(t *testing.T) {
	raw, err := ConfList(ConfListOptions{Network: "skiff", Bridge: "skiff0", Subnet: "10.244.3.0/24", MTU: 1450, IPAMDir: "/var/lib/skiff/cni/ipam"})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		CNIVersion string           `json:"cniVersion"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.CNIVersion != "1.0.0" {
		t.Errorf("cniVersion = %q, want 1.0.0 (Debian's plugins reject 1.1.0)", conf.CNIVersion)
	}
	if len(conf.Plugins) != 2 || conf.Plugins[0]["type"] != "bridge" || conf.Plugins[1]["type"] != "loopback" {
		t.Fatalf("plugins = %v, want bridge then loopback", conf.Plugins)
	}
	br := conf.Plugins[0]
	if br["mtu"] != 1450.0 || br["isGateway"] != true || br["ipMasq"] != true || br["bridge"] != "skiff0" {
		t.Errorf("bridge plugin = %v", br)
	}
	ipam := br["ipam"].(map[string]any)
	if ipam["type"] != "host-local" || ipam["dataDir"] != "/var/lib/skiff/cni/ipam" || !strings.Contains(string(raw), `"subnet": "10.244.3.0/24"`) {
		t.Errorf("ipam = %v", ipam)
	}
}

func TestConfListRejects(t *testing.T) {
	base := ConfListOptions{Network: "skiff", Bridge: "skiff0", Subnet: "10.244.3.0/24", MTU: 1500, IPAMDir: "/x"}
	for name, mutate := range map[string]func(*ConfListOptions){
		"bad subnet":  func(o *ConfListOptions) { o.Subnet = "10.244.3.0" },
		"ipv6 subnet": func(o *ConfListOptions) { o.Subnet = "fd00::/64" },
		"tiny subnet": func(o *ConfListOptions) { o.Subnet = "10.0.0.1/32" },
		"mtu":         func(o *ConfListOptions) { o.MTU = 100 },
		"long bridge": func(o *ConfListOptions) { o.Bridge = "a-very-long-bridge-name" },
	} {
		o := base
		mutate(&o)
		if _, err := ConfList(o); err == nil {
			t.Errorf("%s: ConfList accepted %+v", name, o)
		}
	}
}
