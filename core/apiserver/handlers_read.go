package apiserver

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/store"
)

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	obj, err := s.store.Get(r.Context(), ri.res, ri.namespace, ri.name)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	writeObject(w, http.StatusOK, ri.res, obj)
}

// listFilter parses labelSelector and fieldSelector for a list or watch.
func listFilter(r *http.Request, ri *requestInfo) (*watchFilter, error) {
	q := r.URL.Query()
	f := &watchFilter{namespace: ri.namespace}
	if ls := q.Get("labelSelector"); ls != "" {
		sel, err := api.ParseSelector(ls)
		if err != nil {
			return nil, badRequest("labelSelector %q: %v", ls, err)
		}
		if !sel.Empty() {
			f.labels = sel
		}
	}
	if fs := q.Get("fieldSelector"); fs != "" {
		match, err := api.ParseFieldSelector(ri.res, fs)
		if err != nil {
			return nil, badRequest("fieldSelector %q: %v", fs, err)
		}
		f.fields = match
	}
	return f, nil
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	q := r.URL.Query()
	filter, err := listFilter(r, ri)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	opts := store.ListOptions{LabelSelector: filter.labels, FieldFilter: filter.fields, Continue: q.Get("continue")}
	if l := q.Get("limit"); l != "" {
		if opts.Limit, err = strconv.ParseInt(l, 10, 64); err != nil || opts.Limit < 0 {
			writeStatus(w, r, badRequest("limit: must be a non-negative integer, got %q", l))
			return
		}
	}
	// Lists are always read from etcd at its current revision, which
	// satisfies every resourceVersion semantics ("", "0", "not older
	// than N"); the value is only checked for form.
	if rv := q.Get("resourceVersion"); rv != "" {
		if n, err := strconv.ParseInt(rv, 10, 64); err != nil || n < 0 {
			writeStatus(w, r, badRequest("resourceVersion: must be a non-negative integer, got %q", rv))
			return
		}
	}
	list, err := s.store.List(r.Context(), ri.res, ri.namespace, opts)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	meta := api.ListMeta{ResourceVersion: strconv.FormatInt(list.Revision, 10), Continue: list.Continue}
	if list.Continue != "" {
		meta.RemainingItemCount = &list.Remaining
	}
	writeList(w, ri.res, meta, list.Items)
}

// writeList streams {"apiVersion":..,"kind":"<Kind>List","metadata":..,"items":[..]}
// one item at a time instead of building the whole document in memory.
func writeList(w http.ResponseWriter, res *api.Resource, meta api.ListMeta, items []api.Object) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 64<<10)
	metaJSON, _ := json.Marshal(meta)
	out.WriteString(`{"apiVersion":"` + res.APIVersion() + `","kind":"` + res.Kind + `List","metadata":`)
	out.Write(metaJSON)
	out.WriteString(`,"items":[`)
	enc := json.NewEncoder(out)
	for i, obj := range items {
		if i > 0 {
			out.WriteByte(',')
		}
		*obj.GetTypeMeta() = typeMetaOf(res)
		if err := enc.Encode(obj); err != nil {
			// Headers are sent: all that is left is to cut the body short,
			// which the client sees as malformed JSON rather than a short list.
			return
		}
	}
	out.WriteString("]}\n")
	out.Flush()
}
