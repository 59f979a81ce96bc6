package api

import (
	"bytes"
	"encoding/json"
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
)

// decodeFast is DecodeInto's path for a request body that is one JSON object
// of the wanted kind and decodes without a problem, the common case: a scan
// checks that every field name is one the type has, exactly (encoding/json
// would take "Name" for "name"), then encoding/json decodes the text once.
// It skips the generic parse the strict check needs, whose only point is to
// word errors. false means "take the strict path": that path alone reports
// problems, so errors are worded as before, and obj is left as it was given.
func decodeFast(data []byte, obj Object, wantVersion, wantKind string) bool {
	v := reflect.ValueOf(obj).Elem()
	tm := obj.GetTypeMeta()
	given := *tm
	*tm = TypeMeta{}
	empty := v.IsZero() // but for the apiVersion and kind NewObject sets
	*tm = given
	if !empty {
		return false // decoding merges into what obj holds: keep one path for that
	}
	w := fieldScanner{data: data}
	if !w.value(v.Type()) || w.skipSpace() != len(data) {
		return false
	}
	if err := json.Unmarshal(data, obj); err != nil || !kindMatches(*tm, wantVersion, wantKind) {
		v.SetZero()
		*tm = given
		return false
	}
	return true
}

// kindMatches reports whether a decoded apiVersion and kind, where set, are
// the wanted ones.
func kindMatches(tm TypeMeta, wantVersion, wantKind string) bool {
	return (tm.Kind == "" || wantKind == "" || tm.Kind == wantKind) &&
		(tm.APIVersion == "" || wantVersion == "" || tm.APIVersion == wantVersion)
}

// fieldScanner walks JSON text alongside a Go type and fails on a field
// name the type does not have, or on anything it cannot be sure the strict
// check would accept.
type fieldScanner struct {
	data []byte
	i    int
}

func (w *fieldScanner) skipSpace() int {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return w.i
		}
	}
	return w.i
}

// value scans one value meant for a field of type t. Values of the wrong
// JSON type are left to encoding/json, which refuses them.
func (w *fieldScanner) value(t reflect.Type) bool {
	if w.skipSpace() >= len(w.data) {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == quantityType:
		return w.quantity()
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return w.skip() // its own format; its decoder is as strict as the check
	}
	switch w.data[w.i] {
	case '{':
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			return w.object(func(key string) (reflect.Type, bool) {
				ft, ok := fields.types[key]
				return ft, ok
			})
		case reflect.Map:
			return w.object(func(string) (reflect.Type, bool) { return t.Elem(), true })
		}
	case '[':
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			return w.array(t.Elem())
		}
	}
	return w.skip()
}

func (w *fieldScanner) object(field func(key string) (reflect.Type, bool)) bool {
	w.i++ // {
	if w.skipSpace() < len(w.data) && w.data[w.i] == '}' {
		w.i++
		return true
	}
	for {
		if w.skipSpace() >= len(w.data) || w.data[w.i] != '"' {
			return false
		}
		key, ok := w.plainString()
		if !ok {
			return false
		}
		ft, known := field(key)
		if !known {
			return false
		}
		if w.skipSpace() >= len(w.data) || w.data[w.i] != ':' {
			return false
		}
		w.i++
		if !w.value(ft) {
			return false
		}
		if done, ok := w.separator('}'); done || !ok {
			return ok
		}
	}
}

// separator reads what follows a member: a comma (more to come) or the
// closing bracket (done).
func (w *fieldScanner) separator(closing byte) (done, ok bool) {
	if w.skipSpace() >= len(w.data) {
		return false, false
	}
	switch w.data[w.i] {
	case ',':
		w.i++
		return false, true
	case closing:
		w.i++
		return true, true
	}
	return false, false
}

func (w *fieldScanner) array(elem reflect.Type) bool {
	w.i++ // [
	if w.skipSpace() < len(w.data) && w.data[w.i] == ']' {
		w.i++
		return true
	}
	for {
		if !w.value(elem) {
			return false
		}
		if done, ok := w.separator(']'); done || !ok {
			return ok
		}
	}
}

// plainString reads a string without escapes (a name with one goes the
// strict way).
func (w *fieldScanner) plainString() (string, bool) {
	start := w.i + 1
	end := bytes.IndexByte(w.data[start:], '"')
	if end < 0 {
		return "", false
	}
	s := w.data[start : start+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	w.i = start + end + 1
	return string(s), true
}

// quantity accepts what the strict check accepts: a string or a number
// that parses as a quantity as written, or null.
func (w *fieldScanner) quantity() bool {
	if w.data[w.i] == '"' {
		s, ok := w.plainString()
		if !ok {
			return false
		}
		_, err := resource.ParseQuantity(s)
		return err == nil
	}
	start := w.i
	if !w.skip() {
		return false
	}
	lit := string(w.data[start:w.i])
	if lit == "null" {
		return true
	}
	if lit == "" || !(lit[0] == '-' || (lit[0] >= '0' && lit[0] <= '9')) {
		return false
	}
	_, err := resource.ParseQuantity(lit)
	return err == nil
}

// skip passes over one value of any kind.
func (w *fieldScanner) skip() bool {
	if w.skipSpace() >= len(w.data) {
		return false
	}
	switch w.data[w.i] {
	case '"':
		for j := w.i + 1; j < len(w.data); j++ {
			switch w.data[j] {
			case '\\':
				j++
			case '"':
				w.i = j + 1
				return true
			}
		}
		return false
	case '{':
		return w.object(func(string) (reflect.Type, bool) { return anyType, true })
	case '[':
		return w.array(anyType)
	}
	start := w.i
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return w.i > start
		}
		w.i++
	}
	return w.i > start
}

var anyType = reflect.TypeFor[any]()
