package scheduler

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

func TestLabelsGet(t *testing.T) {
	for _, n := range []int{0, 3, 8, 9, 40} { // linear and binary search
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("key-%02d", i)] = fmt.Sprint(i)
		}
		l := MakeLabels(m)
		if !l.Sorted() {
			t.Fatalf("MakeLabels(%d) not sorted", n)
		}
		for k, v := range m {
			if got, ok := l.Get(k); !ok || got != v {
				t.Errorf("n=%d Get(%q) = %q, %v", n, k, got, ok)
			}
		}
		for _, missing := range []string{"", "key-", "key-99", "zzz"} {
			if l.Has(missing) {
				t.Errorf("n=%d Has(%q)", n, missing)
			}
		}
	}
}

func TestLabelsJSONIsAnObject(t *testing.T) {
	l := MakeLabels(map[string]string{"b": "2", "a": "1"})
	b, err := json.Marshal(l)
	if err != nil || string(b) != `{"a":"1","b":"2"}` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var back Labels
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, l) {
		t.Fatalf("unmarshal: %v %v", back, err)
	}
}

func TestNodeTableSlotsAndChanges(t *testing.T) {
	table := NewNodeTable()
	a := table.Set(&Node{Name: "a"})
	b := table.Set(&Node{Name: "b"})
	var gen uint64
	table.Read(func(s Snapshot) { gen = s.Gen })
	table.Remove("a")
	c := table.Set(&Node{Name: "c"}) // reuses a's slot
	if c != a {
		t.Errorf("slot of c = %d, want the freed slot %d", c, a)
	}
	if again := table.Set(&Node{Name: "b", Unschedulable: true}); again != b {
		t.Errorf("updating b moved it from slot %d to %d", b, again)
	}
	table.Read(func(s Snapshot) {
		if got := s.Changes(gen, nil); !reflect.DeepEqual(got, []int32{a, b}) {
			t.Errorf("changes since %d = %v, want [%d %d]", gen, got, a, b)
		}
		if got := s.Changes(s.Gen, nil); len(got) != 0 {
			t.Errorf("changes since now = %v", got)
		}
		if s.Nodes[a].Name != "c" || !s.Nodes[b].Unschedulable {
			t.Errorf("nodes = %+v %+v", s.Nodes[a], s.Nodes[b])
		}
	})
	if _, ok := table.Slot("a"); ok {
		t.Error("removed node still has a slot")
	}
}

func TestTolerates(t *testing.T) {
	taint := Taint{Key: "gpu", Value: "true", Effect: EffectNoSchedule}
	cases := []struct {
		tol  Toleration
		want bool
	}{
		{Toleration{Key: "gpu", Value: "true"}, true},
		{Toleration{Key: "gpu", Operator: OpExists}, true},
		{Toleration{Operator: OpExists}, true},
		{Toleration{Key: "gpu", Value: "false"}, false},
		{Toleration{Key: "gpu", Operator: OpExists, Effect: EffectNoExecute}, false},
	}
	for _, c := range cases {
		if got := c.tol.Tolerates(taint); got != c.want {
			t.Errorf("%+v tolerates %+v = %v, want %v", c.tol, taint, got, c.want)
		}
	}
}

func TestResourcesFits(t *testing.T) {
	capacity := Resources{MilliCPU: 1000, Memory: 1 << 30, Pods: 10, Extended: map[string]int64{"gpu": 1}}
	used := Resources{MilliCPU: 900, Memory: 1 << 29, Pods: 3}
	if ok, _ := used.Fits(Resources{MilliCPU: 100, Pods: 1}, capacity); !ok {
		t.Error("exact fit refused")
	}
	if ok, what := used.Fits(Resources{MilliCPU: 101}, capacity); ok || what != "cpu" {
		t.Errorf("cpu overflow: %v %q", ok, what)
	}
	if ok, what := used.Fits(Resources{Extended: map[string]int64{"gpu": 2}}, capacity); ok || what != "gpu" {
		t.Errorf("gpu overflow: %v %q", ok, what)
	}
}

// A mirror a few generations behind gets each changed slot once from the
// change log; one further behind than the log reaches gets a scan. Either
// way the delta is exactly the slots changed after its generation.
func TestNodeTableChangesFromLog(t *testing.T) {
	table := NewNodeTable()
	lastChange := map[int32]uint64{}
	var gens []uint64
	for i := range 5000 {
		name := fmt.Sprintf("n%d", i*7%1500)
		if i%11 == 0 {
			if slot, ok := table.Slot(name); ok {
				table.Remove(name)
				table.Read(func(s Snapshot) { lastChange[slot] = s.Gen })
				continue
			}
		}
		slot := table.Set(&Node{Name: name})
		table.Read(func(s Snapshot) { lastChange[slot] = s.Gen; gens = append(gens, s.Gen) })
	}
	table.Read(func(s Snapshot) {
		for _, since := range []uint64{s.Gen, s.Gen - 1, s.Gen - 7, s.Gen - 1000, gens[10], 1} {
			got := map[int32]bool{}
			for _, slot := range s.Changes(since, nil) {
				if got[slot] {
					t.Fatalf("since %d: slot %d twice", since, slot)
				}
				got[slot] = true
			}
			for slot, g := range lastChange {
				if (g > since) != got[slot] {
					t.Fatalf("since %d (now %d): slot %d changed at %d, in delta: %v", since, s.Gen, slot, g, got[slot])
				}
			}
		}
	})
}
