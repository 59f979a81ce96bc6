package scheduler

import "sync"

// NodeTable is the cluster's nodes in stable slots, with a generation that
// grows on every change. The scheduler owns one and updates it as nodes and
// bindings change; plugins refer to nodes by slot, and out-of-process plugins
// keep a mirror that the host brings up to date with Changes, so a per-pod
// call carries only the pod and the candidate slots.
//
// Set and Remove may run concurrently with readers: a reader holds Read for
// the duration of a scheduling call and sees one consistent generation.
type NodeTable struct {
	mu      sync.RWMutex
	gen     uint64
	nodes   []*Node
	changed []uint64 // generation at which each slot last changed
	slots   map[string]int32
	free    []int32
	// log is the slot changed at each generation after logBase, so that a
	// mirror a few generations behind (every plugin instance, on every
	// pod) gets its delta without a scan of every slot.
	log     []int32
	logBase uint64
}

// record logs that slot changed at the current generation, keeping at most
// about as many entries as the table has slots (older mirrors get a scan).
func (t *NodeTable) record(slot int32) {
	t.log = append(t.log, slot)
	if keep := max(1024, len(t.nodes)); len(t.log) > 2*keep {
		drop := len(t.log) - keep
		t.log = append(t.log[:0], t.log[drop:]...)
		t.logBase += uint64(drop)
	}
}

// NewNodeTable returns an empty table at generation 0.
func NewNodeTable() *NodeTable { return &NodeTable{slots: map[string]int32{}} }

// Set adds or replaces the node with n.Name and returns its slot. The table
// keeps n: the caller must not modify it afterwards.
func (t *NodeTable) Set(n *Node) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	slot, ok := t.slots[n.Name]
	if !ok {
		if k := len(t.free); k > 0 {
			slot, t.free = t.free[k-1], t.free[:k-1]
		} else {
			slot = int32(len(t.nodes))
			t.nodes = append(t.nodes, nil)
			t.changed = append(t.changed, 0)
		}
		t.slots[n.Name] = slot
	}
	t.nodes[slot] = n
	t.changed[slot] = t.gen
	t.record(slot)
	return slot
}

// Remove deletes the node with this name; its slot is reused later.
func (t *NodeTable) Remove(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, ok := t.slots[name]
	if !ok {
		return
	}
	t.gen++
	delete(t.slots, name)
	t.nodes[slot] = nil
	t.changed[slot] = t.gen
	t.record(slot)
	t.free = append(t.free, slot)
}

// Slot returns the slot of the named node.
func (t *NodeTable) Slot(name string) (int32, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.slots[name]
	return s, ok
}

// Snapshot is one consistent generation of a NodeTable, valid only inside
// the Read callback that produced it.
type Snapshot struct {
	// Gen is the table's generation.
	Gen uint64
	// Nodes are indexed by slot; a free slot is nil.
	Nodes []*Node
	table *NodeTable
}

// Read calls fn with the current snapshot while holding the table still:
// run a pod's whole scheduling cycle inside one Read. fn must not keep the
// snapshot.
func (t *NodeTable) Read(fn func(s Snapshot)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	fn(Snapshot{Gen: t.gen, Nodes: t.nodes, table: t})
}

// Changes appends to dst the slots changed after generation since: a mirror
// at generation since that copies Nodes[slot] for each of them (nil meaning
// removed) reaches s.Gen. since 0 returns every occupied slot. A snapshot
// not produced by a NodeTable reports every occupied slot.
func (s Snapshot) Changes(since uint64, dst []int32) []int32 {
	if t := s.table; t != nil && since > 0 && since >= t.logBase && since <= s.Gen {
		// Each slot once, at its latest change.
		for g := since + 1; g <= s.Gen; g++ {
			if slot := t.log[g-t.logBase-1]; t.changed[slot] == g {
				dst = append(dst, slot)
			}
		}
		return dst
	}
	for slot, n := range s.Nodes {
		changed := s.table == nil || s.table.changed[slot] > since
		if changed && (since > 0 || n != nil) {
			dst = append(dst, int32(slot))
		}
	}
	return dst
}
