package bridge

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

func TestPlannerPlansCNIConfigForTheNodeSubnet(t *testing.T) {
	args, _ := sdk.ArgsFrom(map[string]any{"bridge": "br-test", "ipamDir": "/data/ipam"})
	p, err := Factory(args, sdk.LoggerHandle{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.(network.Plugin).Plan(context.Background(), network.Input{
		Self: network.NodeInfo{Name: "n1", PodCIDR: "10.244.7.0/24"}, UnderlayMTU: 1450,
	})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(plan.CNIConfig, &conf); err != nil {
		t.Fatal(err)
	}
	br := conf.Plugins[0]
	if br["bridge"] != "br-test" || br["mtu"] != 1450.0 || !strings.Contains(string(plan.CNIConfig), "10.244.7.0/24") || !strings.Contains(string(plan.CNIConfig), "/data/ipam") {
		t.Fatalf("plan CNI config:\n%s", plan.CNIConfig)
	}

	if _, err := p.(network.Plugin).Plan(context.Background(), network.Input{Self: network.NodeInfo{Name: "n2"}}); err == nil || !strings.Contains(err.Error(), `node "n2"`) {
		t.Fatalf("node without a subnet: err = %v", err)
	}
	if _, err := Factory(sdk.Args(`{"brigde":"x"}`), sdk.LoggerHandle{}); err == nil {
		t.Fatal("misspelt argument accepted")
	}
	if err := Descriptor.Validate(); err != nil {
		t.Fatal(err)
	}
}
