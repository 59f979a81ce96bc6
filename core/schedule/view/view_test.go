package view

import (
	"testing"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func TestPodViewCarriesSpreadAndRefusesForgedAnnotations(t *testing.T) {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "p",
		Annotations: map[string]string{AnnotationNodeName: "forged", "team": "a"}}}
	p.Spec.TopologySpreadConstraints = []api.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: DoNotSchedule,
		LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	v, err := Pod(p)
	if err != nil {
		t.Fatal(err)
	}
	if NodeName(v) != "" || v.Annotations.Value("team") != "a" {
		t.Fatalf("annotations %v: the forged node name must go, the others stay", v.Annotations)
	}
	cs, err := SpreadConstraints(v)
	if err != nil || len(cs) != 1 || cs[0].TopologyKey != "zone" || !Matches(cs[0].Selector, scheduler.MakeLabels(map[string]string{"app": "web"})) {
		t.Fatalf("constraints %+v, err %v", cs, err)
	}
	if v.Requests.Pods != 1 {
		t.Fatalf("requests %+v: a pod counts as one", v.Requests)
	}
}

func TestSelectorsAsKubernetes(t *testing.T) {
	web := scheduler.MakeLabels(map[string]string{"app": "web", "gen": "7"})
	if Matches(LabelSelector(nil), web) {
		t.Error("a nil selector matched")
	}
	if !Matches(LabelSelector(&api.LabelSelector{}), web) {
		t.Error("an empty selector did not match")
	}
	for _, tc := range []struct {
		r    scheduler.Requirement
		want bool
	}{
		{scheduler.Requirement{Key: "app", Operator: "In", Values: []string{"db", "web"}}, true},
		{scheduler.Requirement{Key: "app", Operator: "NotIn", Values: []string{"web"}}, false},
		{scheduler.Requirement{Key: "tier", Operator: "NotIn", Values: []string{"x"}}, true},
		{scheduler.Requirement{Key: "tier", Operator: "DoesNotExist"}, true},
		{scheduler.Requirement{Key: "gen", Operator: "Gt", Values: []string{"5"}}, true},
		{scheduler.Requirement{Key: "gen", Operator: "Lt", Values: []string{"5"}}, false},
		{scheduler.Requirement{Key: "app", Operator: "Gt", Values: []string{"5"}}, false},
	} {
		if got := Matches([]scheduler.Requirement{tc.r}, web); got != tc.want {
			t.Errorf("%+v: got %v", tc.r, got)
		}
	}
}
