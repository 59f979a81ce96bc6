package routed

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk/network"
)

func TestPlan(t *testing.T) {
	p, err := Factory(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.(network.Plugin).Plan(context.Background(), network.Input{
		Self: network.NodeInfo{Name: "a", IP: "172.31.0.1", PodCIDR: "10.244.1.0/24"},
		Peers: []network.NodeInfo{
			{Name: "c", IP: "172.31.0.3", PodCIDR: "10.244.3.0/24"},
			{Name: "b", IP: "172.31.0.2", PodCIDR: "10.244.2.0/24"},
			{Name: "new", IP: "172.31.0.4"},
		},
		ClusterCIDR: "10.244.0.0/16",
		UnderlayMTU: 9000,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []network.Route{{Dst: "10.244.2.0/24", Via: "172.31.0.2"}, {Dst: "10.244.3.0/24", Via: "172.31.0.3"}}
	if !reflect.DeepEqual(got.Routes, want) {
		t.Errorf("routes:\n%+v\nwant\n%+v", got.Routes, want)
	}
	if len(got.Devices) != 1 || got.Devices[0].Kind != network.KindBridge || got.Devices[0].MTU != 9000 {
		t.Errorf("devices: want only the bridge at the underlay MTU, got %+v", got.Devices)
	}
	if len(got.FDB)+len(got.Neighbors) != 0 || got.Annotations[network.AnnotationVTEPMAC] != "" {
		t.Errorf("a routed plan has no VXLAN entries: %+v", got)
	}
	if got.Annotations[network.AnnotationBackend] != Name {
		t.Errorf("annotations: %v", got.Annotations)
	}
	var cni struct {
		Plugins []map[string]any `json:"plugins"`
	}
	json.Unmarshal(got.CNIConfig, &cni)
	if cni.Plugins[0]["mtu"] != 9000.0 || cni.Plugins[0]["ipMasq"] != false {
		t.Errorf("CNI config: %s", got.CNIConfig)
	}
}

func TestBadArgs(t *testing.T) {
	for args, want := range map[string]string{
		`{"mtu": 100}`:                   "args.mtu",
		`{"bridge": "sixteen-chars-xx"}`: "at most 15",
		`{"vni": 1}`:                     `unknown field "vni"`,
	} {
		if _, err := Factory([]byte(args), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", args, err, want)
		}
	}
}
