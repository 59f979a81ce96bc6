package apiserver

import (
	"net/http"
	"slices"

	"github.com/skiff-sh/skiff/core/api"
)

// Discovery documents, shaped as Kubernetes' so kubectl-like tools can list
// what the server offers.
type (
	apiVersionsDoc struct {
		Kind     string   `json:"kind"`
		Versions []string `json:"versions"`
	}
	groupVersion struct {
		GroupVersion string `json:"groupVersion"`
		Version      string `json:"version"`
	}
	apiGroupDoc struct {
		Kind             string         `json:"kind,omitempty"`
		APIVersion       string         `json:"apiVersion,omitempty"`
		Name             string         `json:"name"`
		Versions         []groupVersion `json:"versions"`
		PreferredVersion groupVersion   `json:"preferredVersion"`
	}
	apiGroupListDoc struct {
		Kind       string        `json:"kind"`
		APIVersion string        `json:"apiVersion"`
		Groups     []apiGroupDoc `json:"groups"`
	}
	apiResourceDoc struct {
		Name         string   `json:"name"`
		SingularName string   `json:"singularName"`
		Namespaced   bool     `json:"namespaced"`
		Group        string   `json:"group,omitempty"`
		Version      string   `json:"version,omitempty"`
		Kind         string   `json:"kind"`
		Verbs        []string `json:"verbs"`
		ShortNames   []string `json:"shortNames,omitempty"`
	}
	apiResourceListDoc struct {
		Kind         string           `json:"kind"`
		APIVersion   string           `json:"apiVersion"`
		GroupVersion string           `json:"groupVersion"`
		Resources    []apiResourceDoc `json:"resources"`
	}
)

var (
	objectVerbs      = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	subresourceVerbs = map[string][]string{
		"status":  {"get", "patch", "update"},
		"scale":   {"get", "patch", "update"},
		"binding": {"create"},
	}
)

func apiVersions() apiVersionsDoc {
	return apiVersionsDoc{Kind: "APIVersions", Versions: []string{"v1"}}
}

// groups lists the named API groups with their versions, in a stable order.
func groups() map[string][]string {
	out := map[string][]string{}
	for _, r := range api.Resources() {
		if r.Group != "" && !slices.Contains(out[r.Group], r.Version) {
			out[r.Group] = append(out[r.Group], r.Version)
		}
	}
	return out
}

func apiGroup(name string) (apiGroupDoc, bool) {
	versions, ok := groups()[name]
	if !ok {
		return apiGroupDoc{}, false
	}
	g := apiGroupDoc{Kind: "APIGroup", APIVersion: "v1", Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, groupVersion{GroupVersion: name + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g, true
}

func apiGroupList() apiGroupListDoc {
	list := apiGroupListDoc{Kind: "APIGroupList", APIVersion: "v1", Groups: []apiGroupDoc{}}
	names := make([]string, 0)
	for name := range groups() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		g, _ := apiGroup(name)
		g.Kind, g.APIVersion = "", ""
		list.Groups = append(list.Groups, g)
	}
	return list
}

func apiResourceList(group, version string) (apiResourceListDoc, bool) {
	gv := version
	if group != "" {
		gv = group + "/" + version
	}
	list := apiResourceListDoc{Kind: "APIResourceList", APIVersion: "v1", GroupVersion: gv, Resources: []apiResourceDoc{}}
	for _, r := range api.Resources() {
		if r.Group != group || r.Version != version {
			continue
		}
		list.Resources = append(list.Resources, apiResourceDoc{
			Name: r.Plural, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: objectVerbs, ShortNames: r.ShortNames,
		})
		for _, sub := range r.Subresources {
			kind := r.Kind
			switch sub {
			case "scale":
				kind = "Scale"
			case "binding":
				kind = "Binding"
			}
			doc := apiResourceDoc{Name: r.Plural + "/" + sub, Namespaced: r.Namespaced, Kind: kind, Verbs: subresourceVerbs[sub]}
			if sub == "scale" {
				doc.Group, doc.Version = "autoscaling", "v1"
			}
			list.Resources = append(list.Resources, doc)
		}
	}
	return list, len(list.Resources) > 0
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, doc func() any) {
	labelsFrom(r).verb = "GET"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, r, methodNotAllowed(r, "GET"))
		return
	}
	writeJSON(w, http.StatusOK, doc())
}
