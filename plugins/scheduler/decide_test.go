package scheduler_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/skiff-sh/skiff/core/schedule"
	"github.com/skiff-sh/skiff/core/schedule/view"
	"github.com/skiff-sh/skiff/plugins/scheduler/interpodantiaffinity"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeaffinity"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodename"
	"github.com/skiff-sh/skiff/plugins/scheduler/noderesources"
	"github.com/skiff-sh/skiff/plugins/scheduler/nodeunschedulable"
	"github.com/skiff-sh/skiff/plugins/scheduler/podtopologyspread"
	"github.com/skiff-sh/skiff/plugins/scheduler/tainttoleration"
	"github.com/skiff-sh/skiff/sdk"
	sched "github.com/skiff-sh/skiff/sdk/scheduler"
)

// builtinFilter and builtinScore call a policy directly, as the plugin
// host's builtin loader does, without the host.
type builtinFilter struct {
	name string
	p    sched.FilterPlugin
}

func (f builtinFilter) Name() string { return f.name }
func (f builtinFilter) Filter(ctx context.Context, pod *sched.Pod, s sched.Snapshot, c []int32, r []string) (bool, error) {
	return true, f.p.Filter(ctx, pod, s.Nodes, c, r)
}

type builtinScore struct {
	name   string
	weight int64
	p      sched.ScorePlugin
}

func (s builtinScore) Name() string  { return s.name }
func (s builtinScore) Weight() int64 { return s.weight }
func (s builtinScore) Score(ctx context.Context, pod *sched.Pod, snap sched.Snapshot, c []int32, out []int64) (bool, error) {
	return true, s.p.Score(ctx, pod, snap.Nodes, c, out)
}

func build(t *testing.T, f sdk.Factory) any {
	t.Helper()
	p, err := f(nil, sdk.LoggerHandle{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// defaults is the default selection, in the order skiffd runs it.
func defaults(t *testing.T, binpack bool) schedule.Policies {
	filters := []struct {
		name string
		f    sdk.Factory
	}{
		{"NodeUnschedulable", nodeunschedulable.New}, {"NodeName", nodename.New},
		{"NodeAffinity", nodeaffinity.NewFilter}, {"TaintToleration", tainttoleration.NewFilter},
		{"NodeResourcesFit", noderesources.NewFit}, {"PodTopologySpread", podtopologyspread.NewFilter},
		{"InterPodAntiAffinity", interpodantiaffinity.New},
	}
	alloc := noderesources.NewLeastAllocated
	if binpack {
		alloc = noderesources.NewMostAllocated
	}
	scores := []struct {
		name string
		f    sdk.Factory
	}{
		{"NodeAffinity", nodeaffinity.NewScore}, {"TaintToleration", tainttoleration.NewScore},
		{"Allocation", alloc}, {"PodTopologySpread", podtopologyspread.NewScore},
	}
	var p schedule.Policies
	for _, f := range filters {
		p.Filters = append(p.Filters, builtinFilter{f.name, build(t, f.f).(sched.FilterPlugin)})
	}
	for _, s := range scores {
		p.Scorers = append(p.Scorers, builtinScore{s.name, 1, build(t, s.f).(sched.ScorePlugin)})
	}
	return p
}

const gi = int64(1) << 30

// node is a 4-cpu, 8 GiB, 10-pod node with the given labels.
func node(name string, labels map[string]string, mods ...func(*sched.Node)) *sched.Node {
	l := map[string]string{"kubernetes.io/hostname": name}
	for k, v := range labels {
		l[k] = v
	}
	n := &sched.Node{Name: name, Labels: sched.MakeLabels(l), Allocatable: sched.Resources{MilliCPU: 4000, Memory: 8 * gi, Pods: 10}}
	for _, m := range mods {
		m(n)
	}
	return n
}

func used(cpu, mem int64, pods ...sched.PodRef) func(*sched.Node) {
	return func(n *sched.Node) {
		n.Allocated = sched.Resources{MilliCPU: cpu, Memory: mem, Pods: int64(len(pods))}
		n.Pods = pods
	}
}

func taint(key, value, effect string) func(*sched.Node) {
	return func(n *sched.Node) { n.Taints = append(n.Taints, sched.Taint{Key: key, Value: value, Effect: effect}) }
}

func cordoned(n *sched.Node) { n.Unschedulable = true }

func ref(ns, name string, labels map[string]string) sched.PodRef {
	return sched.PodRef{Namespace: ns, Name: name, Labels: sched.MakeLabels(labels)}
}

func pod(cpu, mem int64, mods ...func(*sched.Pod)) *sched.Pod {
	p := &sched.Pod{Namespace: "default", Name: "p", Labels: sched.MakeLabels(map[string]string{"app": "web"}),
		Requests: sched.Resources{MilliCPU: cpu, Memory: mem, Pods: 1}}
	for _, m := range mods {
		m(p)
	}
	return p
}

func spread(maxSkew int32, key, when string) func(*sched.Pod) {
	return func(p *sched.Pod) {
		c := fmt.Sprintf(`[{"maxSkew":%d,"topologyKey":%q,"whenUnsatisfiable":%q,"selector":[{"key":"app","operator":"In","values":["web"]}]}]`, maxSkew, key, when)
		p.Annotations = sched.MakeLabels(map[string]string{view.AnnotationTopologySpread: c})
	}
}

func antiAffinity(key string) func(*sched.Pod) {
	return func(p *sched.Pod) {
		p.Affinity = &sched.Affinity{PodAntiAffinity: []sched.PodAffinityTerm{{
			Selector: []sched.Requirement{{Key: "app", Operator: "In", Values: []string{"web"}}}, TopologyKey: key}}}
	}
}

func TestDecide(t *testing.T) {
	web := map[string]string{"app": "web"}
	cases := []struct {
		name    string
		nodes   []*sched.Node
		pod     *sched.Pod
		binpack bool
		want    string // chosen node, "" for none
		message string // Decision.Message when want is ""
	}{
		{name: "most free node wins (spread)", want: "b",
			nodes: []*sched.Node{node("a", nil, used(3000, 4*gi)), node("b", nil, used(500, gi)), node("c", nil, used(2000, 2*gi))},
			pod:   pod(500, gi)},
		{name: "fullest node that fits wins (binpack)", binpack: true, want: "c",
			nodes: []*sched.Node{node("a", nil, used(3800, 4*gi)), node("b", nil, used(500, gi)), node("c", nil, used(3000, 6*gi))},
			pod:   pod(500, gi)},
		{name: "insufficient cpu and memory are counted per node",
			nodes: []*sched.Node{node("a", nil, used(3800, 0)), node("b", nil, used(3900, 0)), node("c", nil, used(0, 8*gi))},
			pod:   pod(500, gi), message: "0/3 nodes are available: 2 Insufficient cpu, 1 Insufficient memory."},
		{name: "pod limit", nodes: []*sched.Node{node("a", nil, func(n *sched.Node) { n.Allocated.Pods = 10 })},
			pod: pod(0, 0), message: "0/1 nodes are available: 1 Too many pods."},
		{name: "selector and resources aggregate as kube-scheduler does",
			nodes: []*sched.Node{node("a", map[string]string{"disk": "ssd"}, used(3800, 0)), node("b", map[string]string{"disk": "ssd"}, used(3900, 0)), node("c", nil)},
			pod: pod(500, 0, func(p *sched.Pod) { p.NodeSelector = sched.MakeLabels(map[string]string{"disk": "ssd"}) }),
			message: "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector."},
		{name: "node selector picks the matching node", want: "c",
			nodes: []*sched.Node{node("a", nil), node("b", map[string]string{"disk": "hdd"}), node("c", map[string]string{"disk": "ssd"}, used(3000, 0))},
			pod:   pod(500, 0, func(p *sched.Pod) { p.NodeSelector = sched.MakeLabels(map[string]string{"disk": "ssd"}) })},
		{name: "required node affinity with NotIn and Gt", want: "b",
			nodes: []*sched.Node{node("a", map[string]string{"zone": "x", "gen": "5"}), node("b", map[string]string{"zone": "y", "gen": "5"}, used(3000, 0)), node("c", map[string]string{"zone": "z", "gen": "2"})},
			pod: pod(100, 0, func(p *sched.Pod) {
				p.Affinity = &sched.Affinity{NodeRequired: []sched.Term{{Requirements: []sched.Requirement{
					{Key: "zone", Operator: "NotIn", Values: []string{"x"}}, {Key: "gen", Operator: "Gt", Values: []string{"3"}}}}}}
			})},
		{name: "matchFields on metadata.name", want: "c",
			nodes: []*sched.Node{node("a", nil), node("b", nil), node("c", nil, used(2000, 0))},
			pod: pod(100, 0, func(p *sched.Pod) {
				p.Affinity = &sched.Affinity{NodeRequired: []sched.Term{{Requirements: []sched.Requirement{
					{Key: view.FieldNodeName, Operator: "In", Values: []string{"c"}}}}}}
			})},
		{name: "preferred node affinity outweighs free room", want: "a",
			nodes: []*sched.Node{node("a", map[string]string{"gpu": "yes"}, used(2000, 4*gi)), node("b", nil)},
			pod: pod(100, 0, func(p *sched.Pod) {
				p.Affinity = &sched.Affinity{NodePreferred: []sched.WeightedTerm{{Weight: 50, Term: sched.Term{Requirements: []sched.Requirement{{Key: "gpu", Operator: "Exists"}}}}}}
			})},
		{name: "NoSchedule taint filters, toleration lets in", want: "a",
			nodes: []*sched.Node{node("a", nil, taint("dedicated", "db", "NoSchedule"), used(3000, 0)), node("b", nil, used(3000, 0), taint("x", "", "NoExecute"))},
			pod: pod(100, 0, func(p *sched.Pod) {
				p.Tolerations = []sched.Toleration{{Key: "dedicated", Operator: "Equal", Value: "db", Effect: "NoSchedule"}}
			})},
		{name: "untolerated taints are named",
			nodes: []*sched.Node{node("a", nil, taint("dedicated", "db", "NoSchedule")), node("b", nil, cordoned)},
			pod:   pod(100, 0), message: "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were unschedulable."},
		{name: "PreferNoSchedule taint is avoided", want: "b",
			nodes: []*sched.Node{node("a", nil, taint("spot", "", "PreferNoSchedule")), node("b", nil, used(1000, gi))},
			pod:   pod(100, 0)},
		{name: "cordoned node is tolerated with the unschedulable taint", want: "a",
			nodes: []*sched.Node{node("a", nil, cordoned)},
			pod: pod(100, 0, func(p *sched.Pod) {
				p.Tolerations = []sched.Toleration{{Key: nodeunschedulable.TaintKey, Operator: "Exists"}}
			})},
		{name: "node name", want: "b",
			nodes: []*sched.Node{node("a", nil), node("b", nil, used(3000, 0))},
			pod:   pod(100, 0, func(p *sched.Pod) { p.Annotations = sched.MakeLabels(map[string]string{view.AnnotationNodeName: "b"}) })},
		{name: "spread DoNotSchedule keeps the skew", want: "c",
			nodes: []*sched.Node{
				node("a", map[string]string{"zone": "1"}, used(0, 0, ref("default", "w1", web))),
				node("b", map[string]string{"zone": "2"}, used(0, 0, ref("default", "w2", web))),
				node("c", map[string]string{"zone": "3"}, used(3000, 6*gi))},
			pod: pod(100, 0, spread(1, "zone", view.DoNotSchedule))},
		{name: "spread counts only its namespace and selector", want: "a",
			nodes: []*sched.Node{
				node("a", map[string]string{"zone": "1"}, used(3000, 0, ref("other", "w1", web), ref("default", "db", map[string]string{"app": "db"}))),
				node("b", map[string]string{"zone": "2"}, used(0, 0, ref("default", "w2", web)))},
			pod: pod(100, 0, spread(1, "zone", view.DoNotSchedule))},
		{name: "spread without room says why",
			nodes: []*sched.Node{
				node("a", map[string]string{"zone": "1"}, used(0, 0, ref("default", "w1", web), ref("default", "w2", web))),
				node("b", map[string]string{"zone": "2"}, used(3900, 0)),
				node("c", nil)},
			pod: pod(500, 0, spread(1, "zone", view.DoNotSchedule)),
			message: "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label)."},
		{name: "spread ScheduleAnyway prefers the emptier domain", want: "b",
			nodes: []*sched.Node{
				node("a", map[string]string{"zone": "1"}, used(0, 0, ref("default", "w1", web), ref("default", "w2", web))),
				node("b", map[string]string{"zone": "2"}, used(1500, 3*gi, ref("default", "w3", web)))},
			pod: pod(100, 0, spread(1, "zone", view.ScheduleAnyway))},
		{name: "anti-affinity by hostname", want: "b",
			nodes: []*sched.Node{node("a", nil, used(0, 0, ref("default", "w1", web))), node("b", nil, used(3000, 6*gi))},
			pod:   pod(100, 0, antiAffinity("kubernetes.io/hostname"))},
		{name: "anti-affinity by zone",
			nodes: []*sched.Node{
				node("a", map[string]string{"zone": "1"}, used(0, 0, ref("default", "w1", web))),
				node("b", map[string]string{"zone": "1"})},
			pod: pod(100, 0, antiAffinity("zone")), message: "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."},
		{name: "no nodes", pod: pod(100, 0), message: "0/0 nodes are available: the cluster has no nodes."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table := sched.NewNodeTable()
			for _, n := range tc.nodes {
				table.Set(n)
			}
			var (
				d   schedule.Decision
				err error
			)
			table.Read(func(s sched.Snapshot) {
				d, err = schedule.Decide(context.Background(), defaults(t, tc.binpack), tc.pod, s, schedule.DecideOptions{}, nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			if d.Node != tc.want {
				t.Fatalf("chose %q, want %q (failed: %v)", d.Node, tc.want, d.Failed)
			}
			if tc.want == "" && d.Message() != tc.message {
				t.Errorf("message:\n got %s\nwant %s", d.Message(), tc.message)
			}
		})
	}
}
