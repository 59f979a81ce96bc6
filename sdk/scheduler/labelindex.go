package scheduler

import "sync"

// LabelIndex answers "which candidates carry key=value" for one label key
// from one dense array instead of each node's labels. Walking the labels
// costs a policy four cache misses (node, label slice, key, value) and two
// string compares per candidate; over 500 candidates of a 5,000-node
// cluster that was ~40 us in a WASM guest and ~25 us in Rust, against ~3 us
// here.
//
// The index keeps, per slot, the node it last read and the number standing
// for that node's value. Nodes are immutable (a change is a new *Node in the
// slot, in the host's table and in every plugin's mirror), so a slot whose
// pointer differs is re-read on use: the index needs no notification and is
// correct whichever loader runs the policy. Holding the pointer also keeps
// that node alive, so its address cannot be reused by a newer node and pass
// for unchanged. Safe for concurrent use.
type LabelIndex struct {
	key string

	mu     sync.Mutex
	slots  []labelSlot
	values map[string]uint32
}

// labelSlot is what the index knows of one table slot: the node it last
// read there and the number of that node's value. One record per slot
// keeps a candidate to one bounds check and one cache line.
type labelSlot struct {
	node *Node
	id   uint32
}

// NewLabelIndex returns an empty index of label key.
func NewLabelIndex(key string) *LabelIndex {
	return &LabelIndex{key: key, values: map[string]uint32{}}
}

// Key is the indexed label key.
func (x *LabelIndex) Key() string { return x.key }

// Match sets hit[i] to whether nodes[candidates[i]] has the label set to
// value; hit must be as long as candidates. Candidates must be nodes of
// nodes (the scheduler guarantees it).
func (x *LabelIndex) Match(nodes []*Node, candidates []int32, value string, hit []bool) {
	matchInto(x, nodes, candidates, value, hit, true)
}

// Score sets scores[i] to score where nodes[candidates[i]] has the label
// set to value and to 0 elsewhere: Match and the usual use of its result
// in one pass, with no scratch.
func (x *LabelIndex) Score(nodes []*Node, candidates []int32, value string, score int64, scores []int64) {
	matchInto(x, nodes, candidates, value, scores, score)
}

// matchInto sets out[i] to yes where candidate i matches, else to zero.
func matchInto[T bool | int64](x *LabelIndex, nodes []*Node, candidates []int32, value string, out []T, yes T) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.slots) < len(nodes) {
		x.slots = append(x.slots, make([]labelSlot, len(nodes)-len(x.slots))...)
	}
	slots := x.slots[:len(nodes)]
	// One pass: a value not yet numbered can only be met in a node that
	// this pass re-reads, and is looked up again once it is.
	want, known := x.values[value]
	var zero T
	for i, c := range candidates {
		s := &slots[c]
		if n := nodes[c]; s.node != n {
			s.node, s.id = n, x.id(n)
			if !known {
				want, known = x.values[value]
			}
		}
		out[i] = zero
		if known && s.id == want {
			out[i] = yes
		}
	}
}

// id is the number of n's value, 0 when the label is not set.
func (x *LabelIndex) id(n *Node) uint32 {
	v, ok := n.Labels.Get(x.key)
	if !ok {
		return 0
	}
	id, ok := x.values[v]
	if !ok {
		id = uint32(len(x.values) + 1)
		x.values[v] = id
	}
	return id
}
