package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/core/api"
)

// MaxBodyBytes is the largest request body accepted (3 MiB, as Kubernetes).
const MaxBodyBytes = 3 << 20

// readBody reads the request body within MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, err
		}
		return nil, badRequest("read request body: %v", err)
	}
	return data, nil
}

// mediaType is the request's Content-Type without parameters.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

func isYAML(mt string) bool {
	return mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml"
}

// bodyJSON returns an object body as JSON, converting YAML.
func bodyJSON(r *http.Request, data []byte) ([]byte, error) {
	mt := mediaType(r)
	switch {
	case mt == "" || mt == "application/json":
	case isYAML(mt):
		out, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, badRequest("request body is not valid YAML: %v", err)
		}
		data = out
	default:
		return nil, api.NewStatus(api.ReasonUnsupportedMedia, "Content-Type %q is not supported; send application/json or application/yaml", mt)
	}
	if len(bytes.TrimSpace(data)) == 0 || bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, badRequest("request body is empty; send the object as JSON or YAML")
	}
	return data, nil
}

// decodeBody strictly decodes an object of kind/apiVersion want from the
// request. A body without apiVersion and kind is taken as the URL's kind; a
// body naming another kind is rejected before decoding.
func decodeBody(w http.ResponseWriter, r *http.Request, want api.TypeMeta, into api.Object) error {
	data, err := readBody(w, r)
	if err != nil {
		return err
	}
	if data, err = bodyJSON(r, data); err != nil {
		return err
	}
	return decodeJSON(data, want, into)
}

// decodeJSON strictly decodes data into an object of type want. A body
// without apiVersion and kind is taken as want; one naming another kind is
// rejected with a message that says which kind the URL takes.
func decodeJSON(data []byte, want api.TypeMeta, into api.Object) error {
	if err := api.DecodeInto(data, into); err != nil {
		var st *api.Status
		if errors.As(err, &st) {
			return st
		}
		return badRequest("decode %s: %v", want.Kind, err)
	}
	*into.GetTypeMeta() = want
	return nil
}

// writeJSON writes v with code. Encoding errors of plain data cannot happen.
func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data, _ = json.Marshal(api.NewStatus(api.ReasonInternalError, "encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(data)
	w.Write([]byte("\n"))
}

// writeObject writes an object with apiVersion and kind set.
func writeObject(w http.ResponseWriter, code int, res *api.Resource, obj api.Object) {
	*obj.GetTypeMeta() = api.TypeMeta{APIVersion: res.APIVersion(), Kind: res.Kind}
	writeJSON(w, code, obj)
}

// withTypeMetaOf returns obj, or a shallow copy of it with the resource's
// apiVersion and kind when it lacks them: obj may be shared (the watch
// cache's) and is never written to.
func withTypeMetaOf(res *api.Resource, obj api.Object) api.Object {
	if *obj.GetTypeMeta() == typeMetaOf(res) {
		return obj
	}
	v := reflect.New(reflect.TypeOf(obj).Elem())
	v.Elem().Set(reflect.ValueOf(obj).Elem())
	cp := v.Interface().(api.Object)
	*cp.GetTypeMeta() = typeMetaOf(res)
	return cp
}

// typeMetaOf is the TypeMeta a resource's objects carry.
func typeMetaOf(res *api.Resource) api.TypeMeta {
	return api.TypeMeta{APIVersion: res.APIVersion(), Kind: res.Kind}
}

// isJSONPatchType and friends classify PATCH bodies.
func patchType(mt string) (string, bool) {
	switch strings.ToLower(mt) {
	case "application/merge-patch+json", "application/strategic-merge-patch+json":
		return "merge", true
	case "application/json-patch+json":
		return "json", true
	}
	return "", false
}
