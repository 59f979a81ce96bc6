package api

import (
	"reflect"
	"time"
)

// TypeMeta names an object's kind and API version, as in Kubernetes manifests.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is the metadata every stored object carries. Field names and JSON
// shape follow Kubernetes so existing manifests decode unchanged.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          time.Time         `json:"creationTimestamp,omitzero"`
	DeletionTimestamp          *time.Time        `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
}

// OwnerReference links a dependent object to its owner for garbage collection.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ListMeta is the metadata of a list response.
type ListMeta struct {
	ResourceVersion    string `json:"resourceVersion,omitempty"`
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
}

// Object is implemented by every kind. The accessors return pointers so
// generic code (store, API server, controllers) can read and set metadata
// without knowing the concrete type.
type Object interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
}

// GetTypeMeta implements Object for every type that embeds TypeMeta.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// GetObjectMeta implements Object for every type that embeds ObjectMeta.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// IsControlledBy reports whether uid is the controller owner of m.
func (m *ObjectMeta) IsControlledBy(uid string) bool {
	ref := m.ControllerRef()
	return ref != nil && ref.UID == uid
}

// ControllerRef returns the owner reference marked controller, or nil.
func (m *ObjectMeta) ControllerRef() *OwnerReference {
	for i := range m.OwnerReferences {
		if c := m.OwnerReferences[i].Controller; c != nil && *c {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Key is the cache and work-queue key of an object: "namespace/name", or
// "name" for cluster-scoped objects.
func (m *ObjectMeta) Key() string { return KeyOf(m.Namespace, m.Name) }

// KeyOf builds a key from a namespace and a name.
func KeyOf(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// DeepCopy returns an independent copy of obj, equal to what a JSON round
// trip of it gives (see deepcopy.go for why it is not one).
func DeepCopy[T Object](obj T) T {
	out := newLike(obj).(T)
	if src := reflect.ValueOf(obj); !src.IsNil() {
		deepCopyValue(reflect.ValueOf(out).Elem(), src.Elem())
	}
	return out
}

// Selector matches label sets. Parse one with ParseSelector (the
// `-l`/labelSelector string form) or build one from a LabelSelector.
type Selector interface {
	Matches(labels map[string]string) bool
	Empty() bool
	String() string
}
