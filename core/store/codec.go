package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/skiff-sh/skiff/core/api"
)

// keys lays objects out as <prefix>/<group or "core">/<plural>/<namespace>/<name>,
// and <prefix>/<group or "core">/<plural>/<name> for cluster-scoped resources.
type keys struct{ prefix string }

// resourcePrefix ends with "/" so that "pods" never matches "podsecurity".
func (k keys) resourcePrefix(res *api.Resource) string {
	group := res.Group
	if group == "" {
		group = "core"
	}
	return k.prefix + "/" + group + "/" + res.Plural + "/"
}

// listPrefix ends with "/" so that listing namespace "a" never sees "ab".
func (k keys) listPrefix(res *api.Resource, namespace string) (string, error) {
	if namespace == "" {
		return k.resourcePrefix(res), nil
	}
	if !res.Namespaced {
		return "", api.NewStatus(api.ReasonBadRequest, "%s are cluster-scoped: list them without a namespace, got namespace %q", res.GroupResource(), namespace)
	}
	if err := checkSegment(res, "metadata.namespace", namespace); err != nil {
		return "", err
	}
	return k.resourcePrefix(res) + namespace + "/", nil
}

// objectKey validates namespace and name against the resource's scope and
// returns the object's key.
func (k keys) objectKey(res *api.Resource, namespace, name string) (string, error) {
	if err := checkSegment(res, "metadata.name", name); err != nil {
		return "", err
	}
	if !res.Namespaced {
		if namespace != "" {
			return "", invalid(res, name, "metadata.namespace", fmt.Sprintf("%s are cluster-scoped: namespace must be empty, got %q", res.GroupResource(), namespace))
		}
		return k.resourcePrefix(res) + name, nil
	}
	if namespace == "" {
		return "", invalid(res, name, "metadata.namespace", fmt.Sprintf("%s are namespaced: namespace is required", res.GroupResource()))
	}
	if err := checkSegment(res, "metadata.namespace", namespace); err != nil {
		return "", err
	}
	return k.resourcePrefix(res) + namespace + "/" + name, nil
}

// checkSegment keeps a name or namespace from escaping its key segment.
func checkSegment(res *api.Resource, field, value string) error {
	switch {
	case value == "":
		return invalid(res, value, field, "required")
	case value == "." || value == "..":
		return invalid(res, value, field, fmt.Sprintf("must not be %q", value))
	case strings.ContainsAny(value, "/\x00"):
		return invalid(res, value, field, fmt.Sprintf("must not contain '/' or NUL, got %q", value))
	}
	return nil
}

// invalid builds an Invalid Status naming the field at fault.
func invalid(res *api.Resource, name, field, msg string) *api.Status {
	s := api.NewStatus(api.ReasonInvalid, "%s %q is invalid: %s: %s", res.Kind, name, field, msg)
	s.Details = &api.StatusDetails{
		Name: name, Group: res.Group, Kind: res.Kind,
		Causes: []api.StatusCause{{Type: "FieldValueInvalid", Message: msg, Field: field}},
	}
	return s
}

// resourceOf finds the resource of a typed object.
func resourceOf(obj api.Object) (*api.Resource, error) {
	res, ok := api.ResourceFor(obj)
	if !ok {
		return nil, api.NewStatus(api.ReasonBadRequest, "store: %T is not a registered kind; add it to core/api/registry.go", obj)
	}
	return res, nil
}

// encode returns the stored form of obj: its JSON with apiVersion and kind
// set and without resourceVersion, which etcd keeps as the mod revision.
// It writes those fields into obj, which must be the store's own copy.
func encode(res *api.Resource, obj api.Object) ([]byte, error) {
	*obj.GetTypeMeta() = api.TypeMeta{APIVersion: res.APIVersion(), Kind: res.Kind}
	obj.GetObjectMeta().ResourceVersion = ""
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s %q: %w", res.GroupResource(), obj.GetObjectMeta().Name, err)
	}
	return data, nil
}

// decode reads a stored value and sets resourceVersion to rev.
func decode(res *api.Resource, key, value []byte, rev int64) (api.Object, error) {
	obj := res.NewObject()
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, fmt.Errorf("store: decode %s at key %q (revision %d): %w; the stored value is corrupt", res.GroupResource(), key, rev, err)
	}
	setRevision(obj, rev)
	return obj, nil
}

func decodeKV(res *api.Resource, kv *mvccpb.KeyValue) (api.Object, error) {
	return decode(res, kv.Key, kv.Value, kv.ModRevision)
}

func setRevision(obj api.Object, rev int64) {
	obj.GetObjectMeta().ResourceVersion = strconv.FormatInt(rev, 10)
}

// parseRevision reads a resourceVersion; "" is 0 (no precondition).
func parseRevision(res *api.Resource, name, rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	rev, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || rev <= 0 {
		return 0, invalid(res, name, "metadata.resourceVersion", fmt.Sprintf("must be a positive decimal integer, got %q", rv))
	}
	return rev, nil
}

// topLevel is a stored object split into its top-level JSON fields.
type topLevel map[string]json.RawMessage

// splitTopLevel splits the JSON of an object; what names the object goes
// into the error.
func splitTopLevel(data []byte, what string) (topLevel, error) {
	if fields, ok := scanTopLevel(data); ok {
		return fields, nil
	}
	var fields topLevel
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("store: read %s: %w", what, err)
	}
	return fields, nil
}

// metadata decodes only the metadata field, without the rest of the object.
func (f topLevel) metadata(what string) (api.ObjectMeta, error) {
	var meta api.ObjectMeta
	if raw, ok := f["metadata"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return meta, fmt.Errorf("store: read metadata of %s: %w", what, err)
		}
	}
	return meta, nil
}

// specChanged reports whether any top-level field other than metadata,
// status and the type fields differs: the fields whose change bumps
// metadata.generation. Both sides come from encode, so equal values have
// equal bytes.
func specChanged(oldFields, newFields topLevel) bool {
	ignored := func(field string) bool {
		return field == "metadata" || field == "status" || field == "apiVersion" || field == "kind"
	}
	for field, value := range newFields {
		if !ignored(field) && !bytes.Equal(value, oldFields[field]) {
			return true
		}
	}
	for field := range oldFields {
		if _, ok := newFields[field]; !ok && !ignored(field) {
			return true
		}
	}
	return false
}
