package scheduler

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func zoneNode(name, zone string) *Node {
	if zone == "" {
		return &Node{Name: name}
	}
	return &Node{Name: name, Labels: MakeLabels(map[string]string{"zone": zone, "kubernetes.io/hostname": name})}
}

func match(x *LabelIndex, nodes []*Node, candidates []int32, value string) []bool {
	hit := make([]bool, len(candidates))
	x.Match(nodes, candidates, value, hit)
	return hit
}

func TestLabelIndexMatch(t *testing.T) {
	nodes := []*Node{zoneNode("n0", "a"), zoneNode("n1", "b"), zoneNode("n2", ""), zoneNode("n3", "a")}
	all := []int32{0, 1, 2, 3}
	// The first query's value is numbered only when a later candidate is read.
	if got, want := match(NewLabelIndex("zone"), nodes, all, "b"), []bool{false, true, false, false}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first query, zone=b: got %v, want %v", got, want)
	}
	x := NewLabelIndex("zone")
	if got, want := match(x, nodes, all, "a"), []bool{true, false, false, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("zone=a: got %v, want %v", got, want)
	}
	if got, want := match(x, nodes, []int32{3, 1}, "b"), []bool{false, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("zone=b over a subset: got %v, want %v", got, want)
	}
	// A node without the label never matches, not even the empty value.
	if got, want := match(x, nodes, all, ""), []bool{false, false, false, false}; !reflect.DeepEqual(got, want) {
		t.Fatalf("empty value: got %v, want %v", got, want)
	}
	if got, want := match(x, nodes, all, "c"), []bool{false, false, false, false}; !reflect.DeepEqual(got, want) {
		t.Fatalf("unknown value: got %v, want %v", got, want)
	}
}

// Score writes the match as scores, clearing what the slice held before.
func TestLabelIndexScore(t *testing.T) {
	nodes := []*Node{zoneNode("n0", "a"), zoneNode("n1", "b"), zoneNode("n2", ""), zoneNode("n3", "a")}
	x := NewLabelIndex("zone")
	scores := []int64{9, 9, 9}
	x.Score(nodes, []int32{3, 2, 1}, "a", 70, scores)
	if want := []int64{70, 0, 0}; !reflect.DeepEqual(scores, want) {
		t.Fatalf("zone=a: got %v, want %v", scores, want)
	}
	x.Score(nodes, []int32{3, 2, 1}, "b", 70, scores)
	if want := []int64{0, 0, 70}; !reflect.DeepEqual(scores, want) {
		t.Fatalf("zone=b: got %v, want %v", scores, want)
	}
}

// A changed node is a new pointer in its slot; the index re-reads it, even
// when its new value is one no node had before.
func TestLabelIndexFollowsChangedNodes(t *testing.T) {
	nodes := []*Node{zoneNode("n0", "a"), zoneNode("n1", "b")}
	x := NewLabelIndex("zone")
	all := []int32{0, 1}
	match(x, nodes, all, "a")
	nodes[1] = zoneNode("n1", "c")
	if got, want := match(x, nodes, all, "c"), []bool{false, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after n1 moved to zone c: got %v, want %v", got, want)
	}
	nodes[0] = zoneNode("n0", "")
	if got, want := match(x, nodes, all, "a"), []bool{false, false}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after n0 lost its label: got %v, want %v", got, want)
	}
	// The table grows: new slots are read on first use.
	nodes = append(nodes, zoneNode("n2", "c"))
	if got, want := match(x, nodes, []int32{2, 1, 0}, "c"), []bool{true, true, false}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after a node was added: got %v, want %v", got, want)
	}
}

// Process plugins serve concurrent calls with one plugin value; run with -race.
func TestLabelIndexConcurrent(t *testing.T) {
	nodes := make([]*Node, 200)
	all := make([]int32, len(nodes))
	for i := range nodes {
		nodes[i] = zoneNode(fmt.Sprint("n", i), fmt.Sprint("z", i%4))
		all[i] = int32(i)
	}
	x := NewLabelIndex("zone")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				hit := match(x, nodes, all, fmt.Sprint("z", g))
				for i, h := range hit {
					if h != (i%4 == g) {
						t.Errorf("slot %d zone z%d: hit=%v", i, g, h)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
