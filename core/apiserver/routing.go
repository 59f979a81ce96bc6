package apiserver

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// requestTimeout bounds every request but watches.
const requestTimeout = time.Minute

// requestInfo is what a resource URL names.
type requestInfo struct {
	res         *api.Resource
	namespace   string // from /namespaces/{ns}/...; "" for cluster-scoped or all namespaces
	name        string
	subresource string
}

// parseResourcePath resolves the part of a URL after /api/v1 or
// /apis/{group}/{version}:
//
//	{plural}[/{name}[/{sub}]]                       cluster-scoped, or all namespaces for a list
//	namespaces/{ns}/{plural}[/{name}[/{sub}]]        namespaced
//	namespaces/{name}[/status]                       the Namespace object itself
func parseResourcePath(group, version string, parts []string) (*requestInfo, bool) {
	if len(parts) == 0 || len(parts) > 5 {
		return nil, false
	}
	ri := &requestInfo{}
	if parts[0] == "namespaces" && len(parts) >= 3 {
		if res, ok := api.ResourceForPath(group, parts[2]); ok && res.Namespaced && res.Version == version {
			ri.res, ri.namespace = res, parts[1]
			parts = parts[2:]
		}
	}
	if ri.res == nil {
		if len(parts) > 3 {
			return nil, false
		}
		res, ok := api.ResourceForPath(group, parts[0])
		if !ok || res.Version != version {
			return nil, false
		}
		ri.res = res
	}
	if len(parts) >= 2 {
		ri.name = parts[1]
	}
	if len(parts) == 3 {
		ri.subresource = parts[2]
		if !ri.res.HasSubresource(ri.subresource) {
			return nil, false
		}
	}
	// A name or namespace path segment must be non-empty: "/pods//status".
	if (len(parts) >= 2 && ri.name == "") || (ri.res.Namespaced && ri.namespace == "" && ri.name != "") {
		return nil, false
	}
	return ri, true
}

// routeAPI serves /api and /apis.
func (s *Server) routeAPI(w http.ResponseWriter, r *http.Request) {
	labels := labelsFrom(r)
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	var group, version string
	var rest []string
	switch {
	case parts[0] == "api" && len(parts) == 1:
		s.serveDiscovery(w, r, func() any { return apiVersions() })
		return
	case parts[0] == "api":
		group, version, rest = "", parts[1], parts[2:]
	case parts[0] == "apis" && len(parts) == 1:
		s.serveDiscovery(w, r, func() any { return apiGroupList() })
		return
	case parts[0] == "apis" && len(parts) == 2:
		g, ok := apiGroup(parts[1])
		if !ok {
			writeStatus(w, r, notFoundPath(r))
			return
		}
		s.serveDiscovery(w, r, func() any { return g })
		return
	case parts[0] == "apis":
		group, version, rest = parts[1], parts[2], parts[3:]
	default:
		writeStatus(w, r, notFoundPath(r))
		return
	}
	if len(rest) == 0 {
		list, ok := apiResourceList(group, version)
		if !ok {
			writeStatus(w, r, notFoundPath(r))
			return
		}
		s.serveDiscovery(w, r, func() any { return list })
		return
	}
	if s.servePodProxy(w, r, group, version, rest) {
		return
	}
	ri, ok := parseResourcePath(group, version, rest)
	if !ok {
		writeStatus(w, r, notFoundPath(r))
		return
	}
	labels.resource = ri.res.GroupResource()
	if ri.subresource != "" {
		labels.resource += "/" + ri.subresource
	}
	labels.verb = verbOf(r, ri)
	if labels.verb != "WATCH" {
		// A request that cannot finish in a minute is stuck (etcd lost
		// quorum); give the client an answer rather than hang.
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	s.serveResource(w, r, ri, labels.verb)
}

// verbOf names a request the way Kubernetes audit and metrics do.
func verbOf(r *http.Request, ri *requestInfo) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			return "WATCH"
		case ri.name == "":
			return "LIST"
		}
		return "GET"
	case http.MethodPost:
		return "CREATE"
	case http.MethodPut:
		return "UPDATE"
	case http.MethodPatch:
		return "PATCH"
	case http.MethodDelete:
		return "DELETE"
	}
	return r.Method
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, ri *requestInfo, verb string) {
	if ri.res.Namespaced && ri.namespace == "" && verb != "LIST" && verb != "WATCH" {
		writeStatus(w, r, methodNotAllowed(r, "GET (list and watch across all namespaces); use /namespaces/{namespace}/"+ri.res.Plural+" for writes"))
		return
	}
	switch ri.subresource {
	case "status":
		s.serveStatus(w, r, ri, verb)
		return
	case "scale":
		s.serveScale(w, r, ri, verb)
		return
	case "binding":
		s.serveBinding(w, r, ri)
		return
	}
	switch verb {
	case "WATCH":
		if ri.name != "" {
			q := r.URL.Query()
			sel := "metadata.name=" + ri.name
			if fs := q.Get("fieldSelector"); fs != "" {
				sel += "," + fs
			}
			q.Set("fieldSelector", sel)
			r.URL.RawQuery = q.Encode()
		}
		s.serveWatch(w, r, ri)
	case "LIST":
		s.serveList(w, r, ri)
	case "GET":
		s.serveGet(w, r, ri)
	case "CREATE":
		if ri.name != "" {
			writeStatus(w, r, methodNotAllowed(r, "GET, PUT, PATCH, DELETE"))
			return
		}
		s.serveCreate(w, r, ri)
	case "UPDATE", "PATCH", "DELETE":
		if ri.name == "" {
			writeStatus(w, r, methodNotAllowed(r, "GET, POST"))
			return
		}
		switch verb {
		case "UPDATE":
			s.serveUpdate(w, r, ri)
		case "PATCH":
			s.servePatch(w, r, ri)
		default:
			s.serveDelete(w, r, ri)
		}
	default:
		writeStatus(w, r, methodNotAllowed(r, "GET, POST, PUT, PATCH, DELETE"))
	}
}
