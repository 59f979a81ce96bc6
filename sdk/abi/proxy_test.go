package abi

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/network"
	"github.com/skiff-sh/skiff/sdk/proxy"
)

func sampleProxyInput() *proxy.Input {
	return &proxy.Input{NodeName: "n1", NodeIPs: []string{"192.168.1.10"}, ClusterCIDR: "10.244.0.0/16", MasqueradeBit: 14,
		Services: []proxy.Service{
			{Namespace: "default", Name: "web", ClusterIP: "10.96.0.10", SessionAffinity: "ClientIP", AffinitySeconds: 600,
				Ports: []proxy.Port{
					{Name: "http", Protocol: "TCP", Port: 80, NodePort: 30080, Endpoints: []proxy.Endpoint{{IP: "10.244.1.2", Port: 8080}, {IP: "10.244.2.2", Port: 8080}}},
					{Name: "dns", Protocol: "UDP", Port: 53},
				}},
			{Namespace: "kube", Name: "api", ClusterIP: "10.96.0.1", Ports: []proxy.Port{{Protocol: "TCP", Port: 443, Endpoints: []proxy.Endpoint{{IP: "10.0.0.1", Port: 6443}}}}},
		}}
}

func TestProxyInputAndRulesetRoundTrip(t *testing.T) {
	var w Writer
	in := sampleProxyInput()
	w.PutProxyInput(in)
	got := NewReader(w.Buf).ProxyInput()
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("input:\n got %+v\nwant %+v", got, in)
	}
	rs := &proxy.Ruleset{Prefix: "SKIFF-",
		Chains: []proxy.Chain{{Table: "nat", Name: "SKIFF-SERVICES", Rules: []string{"-d 10.96.0.10/32 -j SKIFF-SVC-X", "-j RETURN"}}, {Table: "filter", Name: "SKIFF-FORWARD", Rules: []string{"-j ACCEPT"}}},
		Jumps:  []proxy.Jump{{Table: "nat", Chain: "PREROUTING", Args: []string{"-j", "SKIFF-SERVICES"}}}}
	w.Reset()
	w.PutRuleset(rs)
	msg := append([]byte(nil), w.Buf...)
	gotRS := NewReader(msg).Ruleset()
	clear(msg) // the result must not alias the message (a guest reuses it)
	if !reflect.DeepEqual(gotRS, rs) {
		t.Fatalf("ruleset:\n got %+v\nwant %+v", gotRS, rs)
	}
}

func TestCorruptProxyMessagesAreRefused(t *testing.T) {
	var w Writer
	w.PutProxyInput(sampleProxyInput())
	for cut := 1; cut < len(w.Buf); cut += 7 {
		r := NewReader(w.Buf[:cut])
		r.ProxyInput()
		if !errors.Is(r.Err(), ErrShort) {
			t.Fatalf("input cut at %d of %d: err %v, want ErrShort", cut, len(w.Buf), r.Err())
		}
	}
	// A section announcing fewer endpoints than its ports carry.
	lying := append([]byte(nil), w.Buf...)
	binary.LittleEndian.PutUint32(lying[sectionAt(lying)+4+8:], 1) // total endpoints: 1 of 3
	r := NewReader(lying)
	r.ProxyInput()
	if r.Err() == nil || !strings.Contains(r.Err().Error(), "more endpoints than the message announced") {
		t.Fatalf("lying endpoint total: err %v", r.Err())
	}
}

// sectionAt is the offset of the section length in a PutProxyInput message.
func sectionAt(b []byte) int {
	r := NewReader(b)
	r.Str()
	r.Strs()
	r.Str()
	r.I32()
	return r.off
}

type planner struct{}

func (planner) Plan(_ context.Context, in network.Input) (network.Plan, error) {
	return network.Plan{Routes: []network.Route{{Dst: in.Self.PodCIDR, Dev: "x"}}, CNIConfig: []byte(`{"a":1}`)}, nil
}

func TestDispatcherServesNetworkPlans(t *testing.T) {
	d := NewDispatcher(sdk.NewDescriptor("p", sdk.PointNetwork), func(sdk.Args, sdk.Handle) (any, error) { return planner{}, nil }, sdk.LoggerHandle{})
	var w Writer
	call := func(op Op, fill func(w *Writer)) *Reader {
		var req Writer
		req.U8(uint8(op))
		fill(&req)
		d.Handle(context.Background(), req.Buf, &w)
		return NewReader(w.Buf)
	}
	in := network.Input{Self: network.NodeInfo{Name: "n", PodCIDR: "10.244.1.0/24"}}
	r := call(OpPlan, func(w *Writer) { w.PutNetworkInput(&in) })
	if err := DecodeStatus(r); err == nil || !strings.Contains(err.Error(), "before configure") {
		t.Fatalf("plan before configure: %v", err)
	}
	if err := DecodeStatus(call(OpConfigure, func(w *Writer) { w.Bytes(nil) })); err != nil {
		t.Fatal(err)
	}
	r = call(OpPlan, func(w *Writer) { w.PutNetworkInput(&in) })
	if err := DecodeStatus(r); err != nil {
		t.Fatal(err)
	}
	plan, err := r.NetworkPlan()
	if err != nil || len(plan.Routes) != 1 || plan.Routes[0].Dst != "10.244.1.0/24" || string(plan.CNIConfig) != `{"a":1}` {
		t.Fatalf("plan %+v err %v", plan, err)
	}
	// A network plugin asked for proxy rules says what it is.
	r = call(OpRules, func(w *Writer) { w.PutProxyInput(sampleProxyInput()) })
	if err := DecodeStatus(r); err == nil || !strings.Contains(err.Error(), "not configured as a proxy plugin") {
		t.Fatalf("rules on a network plugin: %v", err)
	}
}
