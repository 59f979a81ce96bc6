package nodelifecycle

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func readyNode(status string, taints ...api.Taint) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n"}, Spec: api.NodeSpec{Taints: taints}}
	if status != "" {
		n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: status}}
	}
	return n
}

func taintKeys(ts []api.Taint) string {
	out := ""
	for _, t := range ts {
		out += t.Key + ":" + t.Effect + " "
	}
	return out
}

func TestDesiredTaints(t *testing.T) {
	earlier := now.Add(-time.Hour)
	tests := []struct {
		name string
		node *api.Node
		want string
	}{
		{"ready: none", readyNode(api.ConditionTrue), ""},
		{"no condition yet: none", readyNode(""), ""},
		{"unknown: unreachable", readyNode(api.ConditionUnknown), TaintUnreachable + ":NoSchedule " + TaintUnreachable + ":NoExecute "},
		{"false: not-ready", readyNode(api.ConditionFalse), TaintNotReady + ":NoSchedule " + TaintNotReady + ":NoExecute "},
		{"ready again: removed, others kept", readyNode(api.ConditionTrue, api.Taint{Key: "gpu", Effect: "NoSchedule"},
			api.Taint{Key: TaintUnreachable, Effect: "NoExecute"}), "gpu:NoSchedule "},
		{"unknown to false: swapped", readyNode(api.ConditionFalse, api.Taint{Key: TaintUnreachable, Effect: "NoExecute"}),
			TaintNotReady + ":NoSchedule " + TaintNotReady + ":NoExecute "},
		{"a NoExecute taint without timeAdded gets one", readyNode(api.ConditionTrue, api.Taint{Key: "maintenance", Effect: "NoExecute"}), "maintenance:NoExecute "},
		{"kept taint keeps its time", readyNode(api.ConditionUnknown, api.Taint{Key: TaintUnreachable, Effect: "NoExecute", TimeAdded: &earlier}),
			TaintUnreachable + ":NoExecute " + TaintUnreachable + ":NoSchedule "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DesiredTaints(tt.node, now)
			if taintKeys(got) != tt.want {
				t.Fatalf("taints %q, want %q", taintKeys(got), tt.want)
			}
			for _, taint := range got {
				if taint.Effect == "NoExecute" && taint.TimeAdded == nil {
					t.Fatalf("NoExecute taint %s without timeAdded", taint.Key)
				}
				if taint.Key == TaintUnreachable && taint.Effect == "NoExecute" && len(tt.node.Spec.Taints) > 0 && tt.node.Spec.Taints[0].TimeAdded != nil && !taint.TimeAdded.Equal(earlier) {
					t.Fatalf("an existing taint's timeAdded moved to %v", taint.TimeAdded)
				}
			}
		})
	}
}

func TestEvictionTime(t *testing.T) {
	added := now.Add(-10 * time.Second)
	unreachable := []api.Taint{{Key: TaintUnreachable, Effect: "NoExecute", TimeAdded: &added}}
	tol := func(key string, seconds *int64) api.Toleration {
		return api.Toleration{Key: key, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: seconds}
	}
	tests := []struct {
		name        string
		taints      []api.Taint
		tolerations []api.Toleration
		want        string // "never", or the offset from added
	}{
		{"default toleration", unreachable, nil, "5m0s"},
		{"own shorter toleration", unreachable, []api.Toleration{tol(TaintUnreachable, api.Int64Ptr(30))}, "30s"},
		{"tolerated forever (daemons)", unreachable, []api.Toleration{tol(TaintUnreachable, nil)}, "never"},
		{"finite beats forever", unreachable, []api.Toleration{tol(TaintUnreachable, nil), tol("", api.Int64Ptr(60))}, "1m0s"},
		{"untolerated custom NoExecute: now", []api.Taint{{Key: "maintenance", Effect: "NoExecute", TimeAdded: &added}}, nil, "0s"},
		{"NoSchedule never evicts", []api.Taint{{Key: "maintenance", Effect: "NoSchedule", TimeAdded: &added}}, nil, "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &api.Pod{Spec: api.PodSpec{Tolerations: tt.tolerations}}
			at, ok := EvictionTime(pod, tt.taints, DefaultPodEvictionTimeout, now)
			got := "never"
			if ok {
				got = fmt.Sprint(at.Sub(added))
			}
			if got != tt.want {
				t.Fatalf("eviction %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMarkUnknown(t *testing.T) {
	n := readyNode(api.ConditionTrue)
	n.Status.Conditions = append(n.Status.Conditions, api.NodeCondition{Type: "MemoryPressure", Status: api.ConditionFalse})
	if !MarkUnknown(&n.Status, now) {
		t.Fatal("MarkUnknown reported no change")
	}
	for _, c := range n.Status.Conditions {
		if c.Status != api.ConditionUnknown || c.Reason != ReasonNodeStatusUnknown || c.Message != MessageNodeStatusUnknown || !c.LastTransitionTime.Equal(now) {
			t.Fatalf("condition %+v not marked Unknown", c)
		}
	}
	if MarkUnknown(&n.Status, now.Add(time.Minute)) {
		t.Fatal("marking an Unknown node again reported a change")
	}
	fresh := readyNode("")
	MarkUnknown(&fresh.Status, now)
	if c := api.GetNodeCondition(&fresh.Status, api.NodeReady); c == nil || c.Status != api.ConditionUnknown {
		t.Fatalf("a node that never posted got no Ready=Unknown: %+v", fresh.Status.Conditions)
	}
}

func TestFactoryArgs(t *testing.T) {
	if _, err := Factory([]byte(`{"gracePeriod":"1m","podEvictionTimeout":"30s"}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"gracePeriod":"soon"}`, `{"gracePeriod":"-1s"}`, `{"podEvictionTimeout":"-5s"}`, `[]`} {
		if _, err := Factory([]byte(bad)); err == nil {
			t.Fatalf("args %s accepted", bad)
		}
	}
}
