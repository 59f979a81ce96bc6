package nodeaffinity

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func TestPreferredTermsScaleToTheBestCandidate(t *testing.T) {
	nodes := []*scheduler.Node{
		{Name: "a", Labels: scheduler.MakeLabels(map[string]string{"disk": "ssd", "gpu": "t4"})},
		{Name: "b", Labels: scheduler.MakeLabels(map[string]string{"disk": "ssd"})},
		{Name: "c"},
	}
	term := func(w int32, key string) scheduler.WeightedTerm {
		return scheduler.WeightedTerm{Weight: w, Term: scheduler.Term{Requirements: []scheduler.Requirement{{Key: key, Operator: "Exists"}}}}
	}
	pod := &scheduler.Pod{Affinity: &scheduler.Affinity{NodePreferred: []scheduler.WeightedTerm{term(10, "disk"), term(30, "gpu")}}}
	scores := make([]int64, 3)
	if err := (&Score{}).Score(context.Background(), pod, nodes, []int32{0, 1, 2}, scores); err != nil {
		t.Fatal(err)
	}
	if scores[0] != 100 || scores[1] != 25 || scores[2] != 0 {
		t.Fatalf("scores %v, want [100 25 0]", scores)
	}
}

func TestEmptyRequiredTermsMatchNoNode(t *testing.T) {
	pod := &scheduler.Pod{Affinity: &scheduler.Affinity{NodeRequired: []scheduler.Term{}}}
	if Fits(pod, &scheduler.Node{Name: "a"}) {
		t.Fatal("a required node affinity without terms matched a node")
	}
	if !Fits(&scheduler.Pod{}, &scheduler.Node{Name: "a"}) {
		t.Fatal("a pod without requirements did not fit")
	}
}
