package overlay

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
)

func plan(t *testing.T, args string, in network.Input) network.Plan {
	t.Helper()
	p, err := Factory(sdk.Args(args), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.(network.Plugin).Plan(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var input = network.Input{
	Self: network.NodeInfo{Name: "a", IP: "172.31.0.1", PodCIDR: "10.244.1.0/24"},
	Peers: []network.NodeInfo{
		{Name: "c", IP: "172.31.0.3", PodCIDR: "10.244.3.0/24", VTEPMAC: "02:00:00:00:00:33"},
		{Name: "b", IP: "172.31.0.2", PodCIDR: "10.244.2.0/24"},
		{Name: "joining", IP: "172.31.0.4"},                         // no subnet yet
		{Name: "outside", IP: "172.31.0.5", PodCIDR: "10.9.0.0/24"}, // not in the cluster CIDR
		{Name: "clash", IP: "172.31.0.6", PodCIDR: "10.244.2.0/24"}, // b's subnet
		{Name: "a", IP: "172.31.0.1", PodCIDR: "10.244.1.0/24"},     // itself
	},
	ClusterCIDR: "10.244.0.0/16",
	UnderlayMTU: 1500,
}

func TestPlan(t *testing.T) {
	got := plan(t, `{"vni": 42, "port": 4789}`, input)
	wantDevices := []network.Device{
		{Name: "skiff0", Kind: "bridge", MTU: 1450, Address: "10.244.1.1/24"},
		{Name: "skiff.vxlan", Kind: "vxlan", MTU: 1450, Address: "10.244.1.0/32", MAC: "0e:73:ac:1f:00:01", VNI: 42, Port: 4789, Local: "172.31.0.1"},
	}
	if !reflect.DeepEqual(got.Devices, wantDevices) {
		t.Errorf("devices:\n%+v\nwant\n%+v", got.Devices, wantDevices)
	}
	wantRoutes := []network.Route{
		{Dst: "10.244.2.0/24", Via: "10.244.2.0", Dev: "skiff.vxlan", OnLink: true},
		{Dst: "10.244.3.0/24", Via: "10.244.3.0", Dev: "skiff.vxlan", OnLink: true},
	}
	if !reflect.DeepEqual(got.Routes, wantRoutes) {
		t.Errorf("routes (peers sorted, unusable ones left out):\n%+v\nwant\n%+v", got.Routes, wantRoutes)
	}
	wantNeigh := []network.Neighbor{
		{Dev: "skiff.vxlan", IP: "10.244.2.0", MAC: "0e:73:ac:1f:00:02"}, // derived: b published none
		{Dev: "skiff.vxlan", IP: "10.244.3.0", MAC: "02:00:00:00:00:33"}, // c's annotation wins
	}
	if !reflect.DeepEqual(got.Neighbors, wantNeigh) {
		t.Errorf("neighbours:\n%+v\nwant\n%+v", got.Neighbors, wantNeigh)
	}
	wantFDB := []network.FDBEntry{
		{Dev: "skiff.vxlan", MAC: "0e:73:ac:1f:00:02", Dst: "172.31.0.2"},
		{Dev: "skiff.vxlan", MAC: "02:00:00:00:00:33", Dst: "172.31.0.3"},
	}
	if !reflect.DeepEqual(got.FDB, wantFDB) {
		t.Errorf("fdb:\n%+v\nwant\n%+v", got.FDB, wantFDB)
	}
	if got.Annotations[network.AnnotationVTEPMAC] != "0e:73:ac:1f:00:01" || got.Annotations[network.AnnotationBackend] != "overlay" ||
		got.Annotations[network.AnnotationPublicIP] != "172.31.0.1" {
		t.Errorf("annotations: %v", got.Annotations)
	}
	if got.Sysctls[network.SysctlIPForward] != "1" {
		t.Errorf("sysctls: %v", got.Sysctls)
	}
	var cni struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(got.CNIConfig, &cni); err != nil {
		t.Fatal(err)
	}
	br := cni.Plugins[0]
	if br["mtu"] != 1450.0 || br["ipMasq"] != false || br["bridge"] != "skiff0" {
		t.Errorf("CNI bridge plugin config: pods need MTU 1450 and no per-node masquerade, got %v", br)
	}
	masq := false
	for _, r := range got.Rules {
		masq = masq || r.Table == "nat" && strings.Contains(strings.Join(r.Args, " "), "-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE")
	}
	if !masq {
		t.Errorf("no masquerade of pod traffic leaving the cluster CIDR: %v", got.Rules)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	a, _ := json.Marshal(plan(t, "", input))
	shuffled := input
	shuffled.Peers = append([]network.NodeInfo(nil), input.Peers...)
	for i, j := 0, len(shuffled.Peers)-1; i < j; i, j = i+1, j-1 {
		shuffled.Peers[i], shuffled.Peers[j] = shuffled.Peers[j], shuffled.Peers[i]
	}
	b, _ := json.Marshal(plan(t, "", shuffled))
	if string(a) != string(b) {
		t.Errorf("peer order changed the plan:\n%s\n%s", a, b)
	}
}

func TestBadInput(t *testing.T) {
	for args, want := range map[string]string{
		`{"vni": 16777216}`:               "args.vni: must be between 1 and 16777215, got 16777216",
		`{"vni": -1}`:                     "args.vni",
		`{"port": 70000}`:                 "args.port",
		`{"device": "skiff0"}`:            "need different names",
		`{"device": "a-very-long-name0"}`: "at most 15 characters",
		`{"vnid": 3}`:                     `unknown field "vnid"`,
		`{"mtu": 1480}`:                   "", // checked at Plan time, below
	} {
		_, err := Factory(sdk.Args(args), nil)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", args, err, want)
		}
	}
	p, _ := Factory(sdk.Args(`{"mtu": 1480}`), nil)
	if _, err := p.(network.Plugin).Plan(context.Background(), input); err == nil || !strings.Contains(err.Error(), "VXLAN overhead") {
		t.Errorf("an MTU without room for VXLAN: %v", err)
	}
	for name, mutate := range map[string]func(*network.Input){
		"no subnet":        func(in *network.Input) { in.Self.PodCIDR = "" },
		"bad cluster CIDR": func(in *network.Input) { in.ClusterCIDR = "10.244.0.0" },
		"subnet outside":   func(in *network.Input) { in.Self.PodCIDR = "10.1.0.0/24" },
		"bad IP":           func(in *network.Input) { in.Self.IP = "fe80::1" },
	} {
		in := input
		mutate(&in)
		p, _ := Factory(nil, nil)
		if _, err := p.(network.Plugin).Plan(context.Background(), in); err == nil || !strings.Contains(err.Error(), `node "a"`) {
			t.Errorf("%s: got %v, want an error naming the node", name, err)
		}
	}
}
