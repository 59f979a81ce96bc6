// Package scheduler is the scheduler.v1 contract: the compact pod and node
// views a scheduling policy sees, the node table shared with plugins, and the
// batched FilterPlugin and ScorePlugin interfaces (one call per pod for all
// candidate nodes).
package scheduler

// MaxNodeScore is the highest score a ScorePlugin should give a node; the
// scheduler multiplies it by the plugin's configured weight.
const MaxNodeScore int64 = 100

// Resources are amounts of the schedulable resources. CPU is in millicores,
// memory and storage in bytes, Pods a count. Extended holds the rest
// (e.g. "example.com/gpu") in the resource's own integer unit.
type Resources struct {
	MilliCPU         int64            `json:"milliCPU,omitempty"`
	Memory           int64            `json:"memory,omitempty"`
	EphemeralStorage int64            `json:"ephemeralStorage,omitempty"`
	Pods             int64            `json:"pods,omitempty"`
	Extended         map[string]int64 `json:"extended,omitempty"`
}

// Fits reports whether r plus req stays within capacity, and if not the name
// of the first resource that does not fit.
func (r Resources) Fits(req, capacity Resources) (bool, string) {
	switch {
	case req.MilliCPU > 0 && r.MilliCPU+req.MilliCPU > capacity.MilliCPU:
		return false, "cpu"
	case req.Memory > 0 && r.Memory+req.Memory > capacity.Memory:
		return false, "memory"
	case req.EphemeralStorage > 0 && r.EphemeralStorage+req.EphemeralStorage > capacity.EphemeralStorage:
		return false, "ephemeral-storage"
	case req.Pods > 0 && r.Pods+req.Pods > capacity.Pods:
		return false, "pods"
	}
	for name, q := range req.Extended {
		if q > 0 && r.Extended[name]+q > capacity.Extended[name] {
			return false, name
		}
	}
	return true, ""
}

// Taint effects and toleration operators, as in Kubernetes.
const (
	EffectNoSchedule       = "NoSchedule"
	EffectPreferNoSchedule = "PreferNoSchedule"
	EffectNoExecute        = "NoExecute"
	OpEqual                = "Equal"
	OpExists               = "Exists"
)

// Taint repels pods that do not tolerate it.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// Toleration lets a pod land on nodes with a matching taint.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"` // Equal (default) or Exists
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"` // empty matches every effect
}

// Tolerates reports whether t tolerates taint.
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key == "" { // empty key with Exists tolerates everything
		return t.Operator == OpExists
	}
	if t.Key != taint.Key {
		return false
	}
	if t.Operator == OpExists {
		return true
	}
	return t.Value == taint.Value
}

// Requirement is one label selector requirement. Operator is In, NotIn,
// Exists, DoesNotExist, Gt or Lt (the last two compare integers).
type Requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Term ANDs its requirements; a list of terms ORs them.
type Term struct {
	Requirements []Requirement `json:"requirements"`
}

// WeightedTerm is a preferred term with its weight (1-100).
type WeightedTerm struct {
	Weight int32 `json:"weight"`
	Term   Term  `json:"term"`
}

// PodAffinityTerm selects pods (by labels, in Namespaces or the pod's own
// namespace when empty) that must, or must not, share the TopologyKey domain.
type PodAffinityTerm struct {
	Selector    []Requirement `json:"selector"`
	Namespaces  []string      `json:"namespaces,omitempty"`
	TopologyKey string        `json:"topologyKey"`
	// Weight is 0 for a required term, 1-100 for a preferred one.
	Weight int32 `json:"weight,omitempty"`
}

// Affinity is the pod's node and inter-pod affinity.
type Affinity struct {
	NodeRequired    []Term            `json:"nodeRequired,omitempty"`
	NodePreferred   []WeightedTerm    `json:"nodePreferred,omitempty"`
	PodAffinity     []PodAffinityTerm `json:"podAffinity,omitempty"`
	PodAntiAffinity []PodAffinityTerm `json:"podAntiAffinity,omitempty"`
}

// Pod is the view of the pod being scheduled.
type Pod struct {
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	UID         string `json:"uid,omitempty"`
	Labels      Labels `json:"labels,omitempty"`
	Annotations Labels `json:"annotations,omitempty"`
	// Requests is the pod's effective request: the sum of its containers'
	// requests, or the largest init container's if that is more, plus Pods=1.
	Requests     Resources    `json:"requests"`
	NodeSelector Labels       `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration `json:"tolerations,omitempty"`
	Affinity     *Affinity    `json:"affinity,omitempty"`
	HostPorts    []int32      `json:"hostPorts,omitempty"`
	Priority     int32        `json:"priority,omitempty"`
}

// PodRef is the view of a pod already bound to (or assumed on) a node.
type PodRef struct {
	Namespace string  `json:"namespace"`
	Name      string  `json:"name"`
	Labels    Labels  `json:"labels,omitempty"`
	HostPorts []int32 `json:"hostPorts,omitempty"`
}

// Node is the view of a node. Nodes in a NodeTable are immutable: to change
// one, Set a new value.
type Node struct {
	Name          string  `json:"name"`
	Labels        Labels  `json:"labels,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
	Unschedulable bool    `json:"unschedulable,omitempty"`
	// Allocatable is what pods may use; Allocatable.Pods is the pod limit.
	Allocatable Resources `json:"allocatable"`
	// Allocated is the sum of the requests of the pods on the node;
	// Allocated.Pods is the pod count.
	Allocated Resources `json:"allocated"`
	Pods      []PodRef  `json:"pods,omitempty"`
}
