package daemonset

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func node(name string, labels map[string]string, taints ...api.Taint) *api.Node {
	return &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}, Spec: api.NodeSpec{Taints: taints}}
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	affinity := &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{
			{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a", "b"}}}},
			{MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"special"}}}},
		}}}}
	tests := []struct {
		name               string
		node               *api.Node
		spec               api.PodSpec
		run, keepOnRunning bool
	}{
		{"plain node", node("n", nil), api.PodSpec{}, true, true},
		{"node selector matches", node("n", map[string]string{"disk": "ssd"}), api.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}}, true, true},
		{"node selector mismatch", node("n", map[string]string{"disk": "hdd"}), api.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}}, false, false},
		{"affinity by label", node("n", map[string]string{"zone": "b"}), api.PodSpec{Affinity: affinity}, true, true},
		{"affinity by field", node("special", nil), api.PodSpec{Affinity: affinity}, true, true},
		{"affinity no term matches", node("n", map[string]string{"zone": "c"}), api.PodSpec{Affinity: affinity}, false, false},
		{"untolerated NoSchedule: no new pod, existing stays", node("n", nil, api.Taint{Key: "gpu", Effect: "NoSchedule"}), api.PodSpec{}, false, true},
		{"untolerated NoExecute: evicted", node("n", nil, api.Taint{Key: "gpu", Effect: "NoExecute"}), api.PodSpec{}, false, false},
		{"tolerated NoExecute", node("n", nil, api.Taint{Key: "gpu", Value: "x", Effect: "NoExecute"}),
			api.PodSpec{Tolerations: []api.Toleration{{Key: "gpu", Operator: "Equal", Value: "x"}}}, true, true},
		{"PreferNoSchedule ignored", node("n", nil, api.Taint{Key: "gpu", Effect: "PreferNoSchedule"}), api.PodSpec{}, true, true},
		{"unreachable and not-ready tolerated by default", node("n", nil,
			api.Taint{Key: TaintUnreachable, Effect: "NoExecute"}, api.Taint{Key: TaintNotReady, Effect: "NoSchedule"}), api.PodSpec{}, false, true},
		{"cordoned node still runs daemons", node("n", nil, api.Taint{Key: TaintUnschedulable, Effect: "NoSchedule"}), api.PodSpec{}, true, true},
		{"network-unavailable only for host network", node("n", nil, api.Taint{Key: TaintNetworkUnavailable, Effect: "NoSchedule"}), api.PodSpec{HostNetwork: true}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, keep := NodeShouldRunDaemonPod(tt.node, &tt.spec)
			if run != tt.run || keep != tt.keepOnRunning {
				t.Fatalf("shouldRun, shouldContinue = %v, %v; want %v, %v", run, keep, tt.run, tt.keepOnRunning)
			}
		})
	}
}

func daemonPod(name, nodeName, hash string, ready bool) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + name, Labels: map[string]string{RevisionLabel: hash}}}
	p.Spec.NodeName = nodeName
	p.Status.Phase = api.PodRunning
	if ready {
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
	}
	return p
}

func names(pods []*api.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func TestDecide(t *testing.T) {
	now := time.Now()
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent", Namespace: "ns", Generation: 3}}
	nodes := []*api.Node{node("n1", nil), node("n2", nil), node("n3", nil, api.Taint{Key: "gpu", Effect: "NoSchedule"}), node("n4", nil, api.Taint{Key: "gpu", Effect: "NoExecute"})}
	failed := daemonPod("failed", "n2", "new", false)
	failed.Status.Phase = api.PodFailed
	pods := []*api.Pod{
		daemonPod("a", "n1", "new", true), daemonPod("a-dup", "n1", "old", true), // duplicate: the old one goes
		failed,                              // replaced next round
		daemonPod("c", "n3", "new", true),   // NoSchedule: stays, misscheduled
		daemonPod("d", "n4", "new", true),   // NoExecute: goes
		daemonPod("e", "gone", "new", true), // node deleted: goes
	}
	plan, st := Decide(ds, nodes, pods, "new", now)
	if len(plan.CreateOn) != 0 {
		t.Fatalf("created on %v; a node with a failed daemon waits for its delete", plan.CreateOn)
	}
	if got := names(plan.Delete); len(got) != 4 || got[0] != "a-dup" || got[1] != "d" || got[2] != "e" || got[3] != "failed" {
		t.Fatalf("delete %v, want [a-dup d e failed]", got)
	}
	want := api.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, NumberMisscheduled: 1, NumberReady: 1,
		UpdatedNumberScheduled: 1, NumberAvailable: 1, NumberUnavailable: 1, ObservedGeneration: 3}
	if st.DesiredNumberScheduled != want.DesiredNumberScheduled || st.CurrentNumberScheduled != want.CurrentNumberScheduled ||
		st.NumberMisscheduled != want.NumberMisscheduled || st.NumberReady != want.NumberReady || st.UpdatedNumberScheduled != want.UpdatedNumberScheduled ||
		st.NumberAvailable != want.NumberAvailable || st.NumberUnavailable != want.NumberUnavailable || st.ObservedGeneration != want.ObservedGeneration {
		t.Fatalf("status %+v\nwant   %+v", st, want)
	}

	plan, _ = Decide(ds, nodes, []*api.Pod{daemonPod("a", "n1", "new", true)}, "new", now)
	if len(plan.CreateOn) != 1 || plan.CreateOn[0] != "n2" {
		t.Fatalf("create on %v, want [n2] (n3 and n4 are tainted)", plan.CreateOn)
	}
}

func TestRollingUpdateRespectsMaxUnavailable(t *testing.T) {
	now := time.Now()
	var nodes []*api.Node
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		nodes = append(nodes, node(n, nil))
	}
	mu := intstr.FromInt32(2)
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent"}}
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &api.RollingUpdateDaemonSet{MaxUnavailable: &mu}}
	tests := []struct {
		name string
		pods []*api.Pod
		want []string
	}{
		{"all old and ready: two at a time", []*api.Pod{daemonPod("p1", "n1", "old", true), daemonPod("p2", "n2", "old", true), daemonPod("p3", "n3", "old", true), daemonPod("p4", "n4", "old", true)}, []string{"p1", "p2"}},
		{"one node already down: one more", []*api.Pod{daemonPod("p2", "n2", "old", true), daemonPod("p3", "n3", "old", true), daemonPod("p4", "n4", "old", true)}, []string{"p2"}},
		{"unavailable old pods go for free", []*api.Pod{daemonPod("p1", "n1", "new", false), daemonPod("p2", "n2", "new", false), daemonPod("p3", "n3", "old", false), daemonPod("p4", "n4", "old", true)}, []string{"p3"}},
		{"done", []*api.Pod{daemonPod("p1", "n1", "new", true), daemonPod("p2", "n2", "new", true), daemonPod("p3", "n3", "new", true), daemonPod("p4", "n4", "new", true)}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, _ := Decide(ds, nodes, tt.pods, "new", now)
			if got := names(plan.Delete); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("delete %v, want %v", got, tt.want)
			}
		})
	}
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: "OnDelete"}
	if plan, _ := Decide(ds, nodes, tests[0].pods, "new", now); len(plan.Delete) != 0 {
		t.Fatalf("OnDelete deleted %v", names(plan.Delete))
	}
}

func TestMaxUnavailablePercentRoundsUp(t *testing.T) {
	pct := intstr.FromString("10%")
	ds := &api.DaemonSet{}
	ds.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxUnavailable: &pct}
	for desired, want := range map[int]int{0: 1, 5: 1, 10: 1, 11: 2, 25: 3} {
		if got := MaxUnavailable(ds, desired); got != want {
			t.Fatalf("10%% of %d = %d, want %d", desired, got, want)
		}
	}
}
