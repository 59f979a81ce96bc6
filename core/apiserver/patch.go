package apiserver

import (
	"encoding/json"
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/skiff-sh/skiff/core/api"
)

// applyPatch applies a merge patch (RFC 7386; strategic merge patches are
// treated as merge patches) or a JSON patch (RFC 6902) to doc.
func applyPatch(kind string, doc, patch []byte) ([]byte, error) {
	if kind == "json" {
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, badRequest("JSON patch is malformed: %v", err)
		}
		out, err := p.Apply(doc)
		if err != nil {
			return nil, api.NewStatus(api.ReasonInvalid, "JSON patch cannot be applied: %v", err)
		}
		return out, nil
	}
	out, err := jsonpatch.MergePatch(doc, patch)
	if err != nil {
		return nil, badRequest("merge patch is malformed: %v (send a JSON object)", err)
	}
	return out, nil
}

// readPatch reads a PATCH body and its kind ("merge" or "json").
func readPatch(w http.ResponseWriter, r *http.Request) (kind string, body []byte, err error) {
	mt := mediaType(r)
	kind, ok := patchType(mt)
	if !ok {
		return "", nil, api.NewStatus(api.ReasonUnsupportedMedia, "Content-Type %q is not a supported patch type; use application/merge-patch+json, application/json-patch+json or application/strategic-merge-patch+json (applied as a merge patch)", mt)
	}
	if body, err = readBody(w, r); err != nil {
		return "", nil, err
	}
	if len(body) == 0 {
		return "", nil, badRequest("the patch body is empty")
	}
	return kind, body, nil
}

// patchObject applies a patch to the JSON of old and strictly decodes the
// result. The patch may not rename the object or move it; a resourceVersion
// it sets is a precondition.
func patchObject(ri *requestInfo, old api.Object, kind string, patch []byte) (api.Object, bool, error) {
	doc, err := json.Marshal(withTypeMetaOf(ri.res, old))
	if err != nil {
		return nil, false, err
	}
	patched, err := applyPatch(kind, doc, patch)
	if err != nil {
		return nil, false, err
	}
	obj := ri.res.NewObject()
	if err := decodeJSON(patched, typeMetaOf(ri.res), obj); err != nil {
		return nil, false, err
	}
	meta, oldMeta := obj.GetObjectMeta(), old.GetObjectMeta()
	if meta.Name != oldMeta.Name || meta.Namespace != oldMeta.Namespace {
		return nil, false, badRequest("a patch cannot change metadata.name or metadata.namespace (%s to %s)", oldMeta.Key(), meta.Key())
	}
	return obj, meta.ResourceVersion != oldMeta.ResourceVersion, nil
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	kind, body, err := readPatch(w, r)
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	out, err := s.guardedUpdate(r.Context(), ri, func(old api.Object) (api.Object, bool, error) {
		return patchObject(ri, old, kind, body)
	})
	if err != nil {
		writeStatus(w, r, err)
		return
	}
	writeObject(w, http.StatusOK, ri.res, out)
}
