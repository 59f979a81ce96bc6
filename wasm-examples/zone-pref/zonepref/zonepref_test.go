package zonepref

import (
	"context"
	"reflect"
	"testing"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

func TestScore(t *testing.T) {
	nodes := []*scheduler.Node{
		{Name: "n0", Labels: scheduler.MakeLabels(map[string]string{"zone": "a"})},
		{Name: "n1", Labels: scheduler.MakeLabels(map[string]string{"zone": "b"})},
		{Name: "n2"},
		{Name: "n3", Labels: scheduler.MakeLabels(map[string]string{"zone": "a", "rack": "r1"})},
	}
	all := []int32{0, 1, 2, 3}
	tests := []struct {
		name string
		args string
		pod  map[string]string
		want []int64
	}{
		{"prefers the annotated zone", "", map[string]string{"skiff.io/prefer-zone": "a"}, []int64{100, 0, 0, 100}},
		{"no annotation scores nothing", "", nil, []int64{0, 0, 0, 0}},
		{"custom label and score", `{"label":"rack","score":7}`, map[string]string{"skiff.io/prefer-zone": "r1"}, []int64{0, 0, 0, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(sdk.Args(tt.args), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]int64, len(all))
			pod := &scheduler.Pod{Name: "p", Annotations: scheduler.MakeLabels(tt.pod)}
			if err := p.(scheduler.ScorePlugin).Score(context.Background(), pod, nodes, all, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBadArgs(t *testing.T) {
	for _, args := range []string{`{"score":101}`, `{"label":""}`, `{"lable":"x"}`} {
		if _, err := New(sdk.Args(args), nil); err == nil {
			t.Errorf("args %s accepted", args)
		}
	}
}
