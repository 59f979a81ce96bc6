package abi

import "github.com/skiff-sh/skiff/sdk/scheduler"

// PutResources encodes r.
func (w *Writer) PutResources(r *scheduler.Resources) {
	w.I64(r.MilliCPU)
	w.I64(r.Memory)
	w.I64(r.EphemeralStorage)
	w.I64(r.Pods)
	w.Len(len(r.Extended))
	for k, v := range r.Extended {
		w.Str(k)
		w.I64(v)
	}
}

// Resources decodes what PutResources wrote.
func (r *Reader) Resources() scheduler.Resources {
	res := scheduler.Resources{MilliCPU: r.I64(), Memory: r.I64(), EphemeralStorage: r.I64(), Pods: r.I64()}
	if n := r.Len(12); n > 0 {
		res.Extended = make(map[string]int64, n)
		for range n {
			k := r.Str()
			res.Extended[k] = r.I64()
		}
	}
	return res
}

func (w *Writer) putRequirements(rs []scheduler.Requirement) {
	w.Len(len(rs))
	for i := range rs {
		w.Str(rs[i].Key)
		w.Str(rs[i].Operator)
		w.Strs(rs[i].Values)
	}
}

func (r *Reader) requirements() []scheduler.Requirement {
	n := r.Len(12)
	if n == 0 {
		return nil
	}
	out := make([]scheduler.Requirement, n)
	for i := range out {
		out[i] = scheduler.Requirement{Key: r.Str(), Operator: r.Str(), Values: r.Strs()}
	}
	return out
}

func (w *Writer) putPodTerms(ts []scheduler.PodAffinityTerm) {
	w.Len(len(ts))
	for i := range ts {
		w.putRequirements(ts[i].Selector)
		w.Strs(ts[i].Namespaces)
		w.Str(ts[i].TopologyKey)
		w.I32(ts[i].Weight)
	}
}

func (r *Reader) podTerms() []scheduler.PodAffinityTerm {
	n := r.Len(16)
	if n == 0 {
		return nil
	}
	out := make([]scheduler.PodAffinityTerm, n)
	for i := range out {
		out[i] = scheduler.PodAffinityTerm{Selector: r.requirements(), Namespaces: r.Strs(), TopologyKey: r.Str(), Weight: r.I32()}
	}
	return out
}

func (w *Writer) putAffinity(a *scheduler.Affinity) {
	w.Bool(a != nil)
	if a == nil {
		return
	}
	w.Len(len(a.NodeRequired))
	for _, t := range a.NodeRequired {
		w.putRequirements(t.Requirements)
	}
	w.Len(len(a.NodePreferred))
	for _, t := range a.NodePreferred {
		w.I32(t.Weight)
		w.putRequirements(t.Term.Requirements)
	}
	w.putPodTerms(a.PodAffinity)
	w.putPodTerms(a.PodAntiAffinity)
}

func (r *Reader) affinity() *scheduler.Affinity {
	if !r.Bool() {
		return nil
	}
	a := &scheduler.Affinity{}
	if n := r.Len(4); n > 0 {
		a.NodeRequired = make([]scheduler.Term, n)
		for i := range a.NodeRequired {
			a.NodeRequired[i].Requirements = r.requirements()
		}
	}
	if n := r.Len(8); n > 0 {
		a.NodePreferred = make([]scheduler.WeightedTerm, n)
		for i := range a.NodePreferred {
			a.NodePreferred[i] = scheduler.WeightedTerm{Weight: r.I32(), Term: scheduler.Term{Requirements: r.requirements()}}
		}
	}
	a.PodAffinity = r.podTerms()
	a.PodAntiAffinity = r.podTerms()
	return a
}

// PutPod encodes the pod being scheduled.
func (w *Writer) PutPod(p *scheduler.Pod) {
	w.Str(p.Namespace)
	w.Str(p.Name)
	w.Str(p.UID)
	w.Labels(p.Labels)
	w.Labels(p.Annotations)
	w.PutResources(&p.Requests)
	w.Labels(p.NodeSelector)
	w.Len(len(p.Tolerations))
	for _, t := range p.Tolerations {
		w.Str(t.Key)
		w.Str(t.Operator)
		w.Str(t.Value)
		w.Str(t.Effect)
	}
	w.putAffinity(p.Affinity)
	w.I32s(p.HostPorts)
	w.I32(p.Priority)
}

// Pod decodes what PutPod wrote.
func (r *Reader) Pod() *scheduler.Pod {
	p := &scheduler.Pod{Namespace: r.Str(), Name: r.Str(), UID: r.Str(), Labels: r.Labels(), Annotations: r.Labels(),
		Requests: r.Resources(), NodeSelector: r.Labels()}
	if n := r.Len(16); n > 0 {
		p.Tolerations = make([]scheduler.Toleration, n)
		for i := range p.Tolerations {
			p.Tolerations[i] = scheduler.Toleration{Key: r.Str(), Operator: r.Str(), Value: r.Str(), Effect: r.Str()}
		}
	}
	p.Affinity = r.affinity()
	if ports := r.I32s(nil); len(ports) > 0 {
		p.HostPorts = ports
	}
	p.Priority = r.I32()
	return p
}

// PutNode encodes a node record of the node table.
func (w *Writer) PutNode(n *scheduler.Node) {
	w.Str(n.Name)
	w.Labels(n.Labels)
	w.Len(len(n.Taints))
	for _, t := range n.Taints {
		w.Str(t.Key)
		w.Str(t.Value)
		w.Str(t.Effect)
	}
	w.Bool(n.Unschedulable)
	w.PutResources(&n.Allocatable)
	w.PutResources(&n.Allocated)
	w.Len(len(n.Pods))
	for i := range n.Pods {
		p := &n.Pods[i]
		w.Str(p.Namespace)
		w.Str(p.Name)
		w.Labels(p.Labels)
		w.I32s(p.HostPorts)
	}
}

// Node decodes what PutNode wrote.
func (r *Reader) Node() *scheduler.Node {
	n := &scheduler.Node{Name: r.Str(), Labels: r.Labels()}
	if k := r.Len(12); k > 0 {
		n.Taints = make([]scheduler.Taint, k)
		for i := range n.Taints {
			n.Taints[i] = scheduler.Taint{Key: r.Str(), Value: r.Str(), Effect: r.Str()}
		}
	}
	n.Unschedulable = r.Bool()
	n.Allocatable = r.Resources()
	n.Allocated = r.Resources()
	if k := r.Len(16); k > 0 {
		n.Pods = make([]scheduler.PodRef, k)
		// The pods' labels share one slab (a pod usually carries a few),
		// instead of one allocation per pod.
		slab := make(scheduler.Labels, 0, 2*k)
		for i := range n.Pods {
			p := &n.Pods[i]
			p.Namespace, p.Name = r.Str(), r.Str()
			start := len(slab)
			slab = r.appendLabels(slab)
			if len(slab) > start {
				p.Labels = slab[start:len(slab):len(slab)]
			}
			if ports := r.I32s(nil); len(ports) > 0 {
				p.HostPorts = ports
			}
		}
	}
	return n
}

// appendLabels decodes a counted list of key/value pairs onto dst (sorting
// them if the sender did not).
func (r *Reader) appendLabels(dst scheduler.Labels) scheduler.Labels {
	n := r.Len(8)
	start := len(dst)
	for range n {
		dst = append(dst, scheduler.Label{Key: r.Str(), Value: r.Str()})
	}
	if l := dst[start:]; !l.Sorted() {
		dst = append(dst[:start], scheduler.MakeLabels(l.Map())...)
	}
	return dst
}

// PutDelta encodes the node-table delta that brings a mirror at
// generation since up to snap.Gen (an OpSync payload, and the head of every
// filter and score call). changed is scratch space for the delta's slots.
func (w *Writer) PutDelta(snap scheduler.Snapshot, since uint64, changed []int32) []int32 {
	changed = changed[:0]
	if since != snap.Gen {
		changed = snap.Changes(since, changed)
	}
	w.U64(since)
	w.U64(snap.Gen)
	w.Len(len(snap.Nodes))
	w.Len(len(changed))
	w.PutSection(func() {
		for _, slot := range changed {
			w.I32(slot)
			n := snap.Nodes[slot]
			w.Bool(n != nil)
			if n != nil {
				w.PutNode(n)
			}
		}
	})
	return changed
}

// PutSchedCall encodes a filter or score call: the delta, the pod and the
// candidate slots.
func (w *Writer) PutSchedCall(snap scheduler.Snapshot, since uint64, pod *scheduler.Pod, candidates []int32, changed []int32) []int32 {
	changed = w.PutDelta(snap, since, changed)
	// A section, so that the pod's strings share one allocation in the
	// plugin (a Go guest paid ~10 allocations per pod before).
	w.PutSection(func() { w.PutPod(pod) })
	w.PutCandidates(candidates)
	return changed
}

// PutReasons encodes a filter result: the distinct reasons, then per
// candidate 0 (fits) or 1 + the index of its reason.
func (w *Writer) PutReasons(reasons []string) {
	var distinct []string
	index := map[string]uint32{}
	codes := make([]int32, len(reasons))
	for i, s := range reasons {
		if s == "" {
			continue
		}
		k, ok := index[s]
		if !ok {
			k = uint32(len(distinct))
			index[s] = k
			distinct = append(distinct, s)
		}
		codes[i] = int32(k + 1)
	}
	w.Strs(distinct)
	w.I32s(codes)
}

// Reasons decodes a filter result into dst (len = candidates).
func (r *Reader) Reasons(dst []string) {
	distinct := r.Strs()
	n := r.Len(4)
	if r.Err() == nil && n != len(dst) {
		r.fail(errCount("filter reasons", n, len(dst)))
		return
	}
	for i := range dst {
		code := r.U32()
		switch {
		case code == 0:
			dst[i] = ""
		case int(code) <= len(distinct):
			dst[i] = distinct[code-1]
		default:
			if r.Err() == nil {
				r.fail(errCount("filter reason index", int(code), len(distinct)))
			}
		}
	}
}
