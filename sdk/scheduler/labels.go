package scheduler

import (
	"encoding/json"
	"sort"
	"strings"
)

// Label is one key/value pair.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Labels are key/value pairs sorted by key, the form every string map of
// the scheduling views takes. A sorted slice instead of a Go map: a lookup
// among the handful of labels an object carries is a few string compares,
// ~10x cheaper than map hashing inside a Go WASM guest, and a node's labels
// are one allocation instead of a map's buckets, which keeps a guest's
// garbage collector fast with thousands of nodes mirrored.
type Labels []Label

// MakeLabels returns m as Labels.
func MakeLabels(m map[string]string) Labels {
	if len(m) == 0 {
		return nil
	}
	l := make(Labels, 0, len(m))
	for k, v := range m {
		l = append(l, Label{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Key < l[j].Key })
	return l
}

// Get returns the value of key and whether it is set. A linear scan: an
// object carries a handful of labels, most of a different length than key
// (one integer compare each), and the scan is small enough to be inlined,
// which in a Go WASM guest saves a call costing as much as the scan (a
// binary search was no faster natively up to dozens of labels).
func (l Labels) Get(key string) (string, bool) {
	for i := range l {
		if l[i].Key == key {
			return l[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of key, "" when it is not set.
func (l Labels) Value(key string) string {
	v, _ := l.Get(key)
	return v
}

// Has reports whether key is set.
func (l Labels) Has(key string) bool {
	_, ok := l.Get(key)
	return ok
}

// Map returns the labels as a map.
func (l Labels) Map() map[string]string {
	m := make(map[string]string, len(l))
	for _, kv := range l {
		m[kv.Key] = kv.Value
	}
	return m
}

// Sorted reports whether l is sorted by key without duplicates, as Get
// requires.
func (l Labels) Sorted() bool {
	for i := 1; i < len(l); i++ {
		if l[i-1].Key >= l[i].Key {
			return false
		}
	}
	return true
}

// String formats l as k=v,k=v.
func (l Labels) String() string {
	var b strings.Builder
	for i, kv := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
	}
	return b.String()
}

// MarshalJSON writes labels as a JSON object, as Kubernetes does.
func (l Labels) MarshalJSON() ([]byte, error) { return json.Marshal(l.Map()) }

// UnmarshalJSON reads a JSON object.
func (l *Labels) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*l = MakeLabels(m)
	return nil
}
