package abi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func samplePod() *scheduler.Pod {
	return &scheduler.Pod{
		Namespace: "default", Name: "web-0", UID: "u1",
		Labels:      scheduler.MakeLabels(map[string]string{"app": "web"}),
		Annotations: scheduler.MakeLabels(map[string]string{"skiff.io/prefer-zone": "a"}),
		Requests:    scheduler.Resources{MilliCPU: 250, Memory: 64 << 20, Pods: 1, Extended: map[string]int64{"gpu": 1}},
		Tolerations: []scheduler.Toleration{{Key: "k", Operator: scheduler.OpExists, Effect: scheduler.EffectNoSchedule}},
		Affinity: &scheduler.Affinity{
			NodeRequired:    []scheduler.Term{{Requirements: []scheduler.Requirement{{Key: "zone", Operator: "In", Values: []string{"a", "b"}}}}},
			NodePreferred:   []scheduler.WeightedTerm{{Weight: 5, Term: scheduler.Term{Requirements: []scheduler.Requirement{{Key: "ssd", Operator: "Exists"}}}}},
			PodAntiAffinity: []scheduler.PodAffinityTerm{{Selector: []scheduler.Requirement{{Key: "app", Operator: "In", Values: []string{"web"}}}, TopologyKey: "zone"}},
		},
		HostPorts: []int32{8080},
		Priority:  7,
	}
}

func sampleNode(i int) *scheduler.Node {
	return &scheduler.Node{
		Name:        fmt.Sprintf("n%d", i),
		Labels:      scheduler.MakeLabels(map[string]string{"zone": string(rune('a' + i%3))}),
		Taints:      []scheduler.Taint{{Key: "k", Value: "v", Effect: scheduler.EffectNoSchedule}},
		Allocatable: scheduler.Resources{MilliCPU: 4000, Memory: 8 << 30, Pods: 110},
		Allocated:   scheduler.Resources{MilliCPU: 100 * int64(i), Pods: 1},
		Pods:        []scheduler.PodRef{{Namespace: "default", Name: "x", Labels: scheduler.MakeLabels(map[string]string{"app": "web"}), HostPorts: []int32{80}}},
	}
}

func TestPodAndNodeRoundTrip(t *testing.T) {
	var w Writer
	pod, node := samplePod(), sampleNode(4)
	w.PutPod(pod)
	w.PutNode(node)
	r := NewReader(w.Buf)
	gotPod, gotNode := r.Pod(), r.Node()
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotPod, pod) {
		t.Errorf("pod round trip:\n got %+v\nwant %+v", gotPod, pod)
	}
	if !reflect.DeepEqual(gotNode, node) {
		t.Errorf("node round trip:\n got %+v\nwant %+v", gotNode, node)
	}
	if len(r.Rest()) != 0 {
		t.Errorf("%d bytes left over", len(r.Rest()))
	}
}

func TestTruncatedMessageIsAnError(t *testing.T) {
	var w Writer
	w.PutNode(sampleNode(1))
	for cut := 0; cut < len(w.Buf); cut++ {
		r := NewReader(w.Buf[:cut])
		r.Node()
		if !errors.Is(r.Err(), ErrShort) {
			t.Fatalf("cut at %d of %d: err = %v, want ErrShort", cut, len(w.Buf), r.Err())
		}
	}
}

func TestReasonsRoundTrip(t *testing.T) {
	in := []string{"", "too many pods", "", "tainted", "too many pods"}
	var w Writer
	w.PutReasons(in)
	out := make([]string, len(in))
	r := NewReader(w.Buf)
	r.Reasons(out)
	if r.Err() != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("reasons = %q (err %v), want %q", out, r.Err(), in)
	}
}

// slotScore scores each node by its slot number and the zone label, so a
// wrong mirror (stale or shifted) shows in the result.
type slotScore struct{}

func (slotScore) Score(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, cand []int32, out []int64) error {
	for i, c := range cand {
		out[i] = int64(c) * 10
		if nodes[c].Labels.Value("zone") == pod.Annotations.Value("skiff.io/prefer-zone") {
			out[i]++
		}
	}
	return nil
}

func call(t *testing.T, d *Dispatcher, snap scheduler.Snapshot, since uint64, cand []int32) ([]int64, error) {
	t.Helper()
	w := Writer{Buf: []byte{byte(OpScore)}}
	w.PutSchedCall(snap, since, samplePod(), cand, nil)
	var resp Writer
	d.Handle(context.Background(), w.Buf, &resp)
	r := NewReader(resp.Buf)
	if err := DecodeStatus(r); err != nil {
		return nil, err
	}
	out := make([]int64, len(cand))
	r.Scores(out)
	return out, r.Err()
}

func TestDispatcherFollowsTableDeltas(t *testing.T) {
	d := NewDispatcher(sdk.NewDescriptor("slot", sdk.PointScore), func(sdk.Args, sdk.Handle) (any, error) { return slotScore{}, nil }, nil)
	var resp Writer
	d.Handle(context.Background(), []byte{byte(OpConfigure), 0, 0, 0, 0}, &resp)
	if err := DecodeStatus(NewReader(resp.Buf)); err != nil {
		t.Fatal(err)
	}
	table := scheduler.NewNodeTable()
	for i := range 5 {
		table.Set(sampleNode(i))
	}
	var synced uint64
	table.Read(func(s scheduler.Snapshot) {
		got, err := call(t, d, s, 0, []int32{0, 1})
		if err != nil || !reflect.DeepEqual(got, []int64{1, 10}) {
			t.Fatalf("full sync: %v %v", got, err)
		}
		synced = s.Gen
	})
	// Node 0 moves to zone b and node 2 goes away: only those travel.
	n0 := sampleNode(0)
	n0.Labels = scheduler.MakeLabels(map[string]string{"zone": "b"})
	table.Set(n0)
	table.Remove("n2")
	table.Read(func(s scheduler.Snapshot) {
		if ch := s.Changes(synced, nil); !reflect.DeepEqual(ch, []int32{0, 2}) {
			t.Errorf("changes since %d = %v, want [0 2]", synced, ch)
		}
		got, err := call(t, d, s, synced, []int32{0, 1})
		if err != nil || !reflect.DeepEqual(got, []int64{0, 10}) {
			t.Fatalf("delta: %v %v", got, err)
		}
	})
	// A delta from a generation the plugin never saw asks for a resync.
	table.Set(sampleNode(7))
	table.Read(func(s scheduler.Snapshot) {
		if _, err := call(t, d, s, 1, []int32{0}); !errors.Is(err, ErrResync) {
			t.Fatalf("delta from stale generation: err = %v, want ErrResync", err)
		}
	})
}

// Pod labels in a node record share one slab yet stay separate sets, and a
// sender's unsorted set is sorted.
func TestNodePodLabelsSlab(t *testing.T) {
	n := &scheduler.Node{Name: "n", Pods: []scheduler.PodRef{
		{Namespace: "a", Name: "p1", Labels: scheduler.Labels{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}}},
		{Namespace: "a", Name: "p2"},
		{Namespace: "a", Name: "p3", Labels: scheduler.MakeLabels(map[string]string{"app": "web", "tier": "x", "z": "9"})},
	}}
	var w Writer
	w.PutNode(n)
	got := NewReader(w.Buf).Node()
	if v := got.Pods[0].Labels; len(v) != 2 || v[0].Key != "a" || v.Value("b") != "2" {
		t.Errorf("p1 labels %v, want a=1,b=2 sorted", v)
	}
	if got.Pods[1].Labels != nil {
		t.Errorf("p2 labels %v, want none", got.Pods[1].Labels)
	}
	if v := got.Pods[2].Labels; len(v) != 3 || v.Value("tier") != "x" {
		t.Errorf("p3 labels %v", v)
	}
	// Appending to one pod's labels must not overwrite the next pod's.
	_ = append(got.Pods[0].Labels, scheduler.Label{Key: "c", Value: "3"})
	if got.Pods[2].Labels[0].Key != "app" {
		t.Error("pod labels share capacity across pods")
	}
}
