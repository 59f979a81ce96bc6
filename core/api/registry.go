package api

import (
	"reflect"
	"sort"
	"strings"
)

// Resource describes one kind the API serves: where it lives in the URL space,
// whether it is namespaced, and how to make an empty object of it.
type Resource struct {
	Group        string // "" for the core group
	Version      string
	Kind         string
	Plural       string // the URL segment: "deployments"
	Singular     string
	ShortNames   []string
	Namespaced   bool
	Subresources []string // "status", "scale", "binding"
	New          func() Object
}

// APIVersion is the apiVersion written in manifests: "v1" or "apps/v1".
func (r *Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// GroupResource names the resource as kubectl prints it: "deployments.apps".
func (r *Resource) GroupResource() string {
	if r.Group == "" {
		return r.Plural
	}
	return r.Plural + "." + r.Group
}

// TypeName is the CLI's "kind.group" form used in apply output: "deployment.apps".
func (r *Resource) TypeName() string {
	if r.Group == "" {
		return r.Singular
	}
	return r.Singular + "." + r.Group
}

// HasSubresource reports whether the resource serves the named subresource.
func (r *Resource) HasSubresource(name string) bool {
	for _, s := range r.Subresources {
		if s == name {
			return true
		}
	}
	return false
}

// NewObject returns an empty object of the resource with its TypeMeta set.
func (r *Resource) NewObject() Object {
	obj := r.New()
	*obj.GetTypeMeta() = TypeMeta{APIVersion: r.APIVersion(), Kind: r.Kind}
	return obj
}

const (
	groupApps         = "apps"
	groupBatch        = "batch"
	groupCoordination = "coordination.k8s.io"
)

var resources = []*Resource{
	{Version: "v1", Kind: "Namespace", Plural: "namespaces", ShortNames: []string{"ns"}, Subresources: []string{"status"}, New: func() Object { return &Namespace{} }},
	{Version: "v1", Kind: "Node", Plural: "nodes", ShortNames: []string{"no"}, Subresources: []string{"status"}, New: func() Object { return &Node{} }},
	{Version: "v1", Kind: "Pod", Plural: "pods", ShortNames: []string{"po"}, Namespaced: true, Subresources: []string{"status", "binding"}, New: func() Object { return &Pod{} }},
	{Version: "v1", Kind: "Service", Plural: "services", ShortNames: []string{"svc"}, Namespaced: true, Subresources: []string{"status"}, New: func() Object { return &Service{} }},
	{Version: "v1", Kind: "Endpoints", Plural: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true, New: func() Object { return &Endpoints{} }},
	{Version: "v1", Kind: "ConfigMap", Plural: "configmaps", ShortNames: []string{"cm"}, Namespaced: true, New: func() Object { return &ConfigMap{} }},
	{Version: "v1", Kind: "Secret", Plural: "secrets", ShortNames: []string{"secret"}, Namespaced: true, New: func() Object { return &Secret{} }},
	{Version: "v1", Kind: "Event", Plural: "events", ShortNames: []string{"ev"}, Namespaced: true, New: func() Object { return &Event{} }},
	{Group: groupCoordination, Version: "v1", Kind: "Lease", Plural: "leases", ShortNames: []string{"lease"}, Namespaced: true, New: func() Object { return &Lease{} }},
	{Group: groupApps, Version: "v1", Kind: "Deployment", Plural: "deployments", ShortNames: []string{"deploy"}, Namespaced: true, Subresources: []string{"status", "scale"}, New: func() Object { return &Deployment{} }},
	{Group: groupApps, Version: "v1", Kind: "ReplicaSet", Plural: "replicasets", ShortNames: []string{"rs"}, Namespaced: true, Subresources: []string{"status", "scale"}, New: func() Object { return &ReplicaSet{} }},
	{Group: groupApps, Version: "v1", Kind: "DaemonSet", Plural: "daemonsets", ShortNames: []string{"ds"}, Namespaced: true, Subresources: []string{"status"}, New: func() Object { return &DaemonSet{} }},
	{Group: groupApps, Version: "v1", Kind: "StatefulSet", Plural: "statefulsets", ShortNames: []string{"sts"}, Namespaced: true, Subresources: []string{"status", "scale"}, New: func() Object { return &StatefulSet{} }},
	{Group: groupBatch, Version: "v1", Kind: "Job", Plural: "jobs", ShortNames: []string{"job"}, Namespaced: true, Subresources: []string{"status"}, New: func() Object { return &Job{} }},
	{Group: groupBatch, Version: "v1", Kind: "CronJob", Plural: "cronjobs", ShortNames: []string{"cj"}, Namespaced: true, Subresources: []string{"status"}, New: func() Object { return &CronJob{} }},
}

var (
	byKind   = map[string]*Resource{}
	byPlural = map[string]*Resource{} // "group/plural"
	byType   = map[reflect.Type]*Resource{}
)

func init() {
	for _, r := range resources {
		if r.Singular == "" {
			r.Singular = strings.ToLower(r.Kind)
		}
		byKind[r.Kind] = r
		byPlural[r.Group+"/"+r.Plural] = r
		byType[reflect.TypeOf(r.New())] = r
	}
}

// Resources lists every served resource, sorted by plural name.
func Resources() []*Resource {
	out := append([]*Resource(nil), resources...)
	sort.Slice(out, func(i, j int) bool { return out[i].Plural < out[j].Plural })
	return out
}

// ResourceForKind finds a resource by its Kind ("Deployment").
func ResourceForKind(kind string) (*Resource, bool) {
	r, ok := byKind[kind]
	return r, ok
}

// ResourceForPath finds a resource by API group and URL plural.
func ResourceForPath(group, plural string) (*Resource, bool) {
	r, ok := byPlural[group+"/"+plural]
	return r, ok
}

// ResourceFor finds the resource of a typed object.
func ResourceFor(obj Object) (*Resource, bool) {
	r, ok := byType[reflect.TypeOf(obj)]
	return r, ok
}

// ResourceByName resolves what a user types on the command line: a plural,
// singular, short name or kind, optionally qualified by group
// ("deploy", "deployments", "deployment.apps", "Deployment").
func ResourceByName(name string) (*Resource, bool) {
	name = strings.ToLower(name)
	base, group, qualified := strings.Cut(name, ".")
	for _, r := range resources {
		if qualified && r.Group != group {
			continue
		}
		if base == r.Plural || base == r.Singular || base == strings.ToLower(r.Kind) {
			return r, true
		}
		for _, s := range r.ShortNames {
			if base == s {
				return r, true
			}
		}
	}
	return nil, false
}

func newLike(obj Object) Object {
	return reflect.New(reflect.TypeOf(obj).Elem()).Interface().(Object)
}
