package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"
)

// DeepCopy used to be a JSON round trip. It is on every write path (the API
// server, the store, every controller), so it now copies with reflection,
// ~10x cheaper, while giving exactly what the round trip gave: only the
// fields JSON carries, empty omitempty slices and maps as nil, times without
// a monotonic reading, and values with their own JSON form (Quantity,
// IntOrString) copied through it.

// copyFunc copies src into dst, a settable zero value of the same type.
type copyFunc func(dst, src reflect.Value)

var (
	copiersMu sync.RWMutex
	copiers   = map[reflect.Type]copyFunc{}
)

var marshalerType = reflect.TypeFor[json.Marshaler]()

// deepCopyValue copies src into dst (settable, zero, same type).
func deepCopyValue(dst, src reflect.Value) {
	copierFor(src.Type())(dst, src)
}

func copierFor(t reflect.Type) copyFunc {
	copiersMu.RLock()
	c, ok := copiers[t]
	copiersMu.RUnlock()
	if ok {
		return c
	}
	copiersMu.Lock()
	defer copiersMu.Unlock()
	return buildCopierLocked(t)
}

// buildCopierLocked builds (and caches) the copier of t. A recursive type
// finds its own entry through an indirection registered before its fields
// are built.
func buildCopierLocked(t reflect.Type) copyFunc {
	if c, ok := copiers[t]; ok {
		return c
	}
	var built copyFunc
	copiers[t] = func(dst, src reflect.Value) { built(dst, src) }
	built = newCopier(t)
	copiers[t] = built
	return built
}

func newCopier(t reflect.Type) copyFunc {
	switch {
	case t == timeType:
		return copyTime
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)):
		return copyThroughJSON
	case isPlain(t):
		return func(dst, src reflect.Value) { dst.Set(src) }
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := buildCopierLocked(t.Elem())
		return func(dst, src reflect.Value) {
			if src.IsNil() {
				return
			}
			p := reflect.New(t.Elem())
			elem(p.Elem(), src.Elem())
			dst.Set(p)
		}
	case reflect.Slice:
		return sliceCopier(t)
	case reflect.Map:
		return mapCopier(t)
	case reflect.Array:
		elem := buildCopierLocked(t.Elem())
		return func(dst, src reflect.Value) {
			for i := range src.Len() {
				elem(dst.Index(i), src.Index(i))
			}
		}
	case reflect.Struct:
		return structCopier(t)
	case reflect.Interface:
		return copyThroughJSON
	}
	return func(dst, src reflect.Value) { dst.Set(src) }
}

// isPlain reports whether a value of t shares nothing and needs no JSON
// normalisation, so assignment copies it.
func isPlain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	case reflect.Struct:
		if t == timeType || t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
			return false
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" || !isPlain(f.Type) {
				return false
			}
		}
		return true
	case reflect.Array:
		return isPlain(t.Elem())
	}
	return false
}

// copyTime keeps the instant and, as JSON does, drops the monotonic reading.
// A time outside UTC takes the round trip, which decides its location.
func copyTime(dst, src reflect.Value) {
	t := src.Interface().(time.Time)
	if t.Location() == time.UTC {
		dst.Set(reflect.ValueOf(t.Round(0)))
		return
	}
	copyThroughJSON(dst, src)
}

// copyThroughJSON copies a value that has its own JSON form (or an
// interface) the way the JSON round trip did.
func copyThroughJSON(dst, src reflect.Value) {
	data, err := json.Marshal(src.Interface())
	if err != nil {
		panic("api: marshal for deep copy: " + err.Error())
	}
	p := reflect.New(dst.Type())
	if err := json.Unmarshal(data, p.Interface()); err != nil {
		panic("api: unmarshal for deep copy: " + err.Error())
	}
	dst.Set(p.Elem())
}

func sliceCopier(t reflect.Type) copyFunc {
	if isPlain(t.Elem()) {
		return func(dst, src reflect.Value) {
			if src.IsNil() {
				return
			}
			s := reflect.MakeSlice(t, src.Len(), src.Len())
			reflect.Copy(s, src)
			dst.Set(s)
		}
	}
	elem := buildCopierLocked(t.Elem())
	return func(dst, src reflect.Value) {
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(t, src.Len(), src.Len())
		for i := range src.Len() {
			elem(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	}
}

func mapCopier(t reflect.Type) copyFunc {
	plain := isPlain(t.Elem())
	var elem copyFunc
	if !plain {
		elem = buildCopierLocked(t.Elem())
	}
	return func(dst, src reflect.Value) {
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(t, src.Len())
		it := src.MapRange()
		for it.Next() {
			if plain {
				m.SetMapIndex(it.Key(), it.Value())
				continue
			}
			v := reflect.New(t.Elem()).Elem()
			elem(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	}
}

type fieldCopier struct {
	index     int
	copy      copyFunc
	omitEmpty bool // an empty slice or map is omitted by JSON: it stays nil
}

func structCopier(t reflect.Type) copyFunc {
	var fields []fieldCopier
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue // JSON does not carry it: the copy leaves it zero
		}
		kind := f.Type.Kind()
		fields = append(fields, fieldCopier{
			index:     i,
			copy:      buildCopierLocked(f.Type),
			omitEmpty: (kind == reflect.Slice || kind == reflect.Map) && hasOption(tag, "omitempty"),
		})
	}
	return func(dst, src reflect.Value) {
		for _, f := range fields {
			sf := src.Field(f.index)
			if f.omitEmpty && sf.Len() == 0 {
				continue
			}
			f.copy(dst.Field(f.index), sf)
		}
	}
}

func hasOption(tag, option string) bool {
	_, opts, _ := strings.Cut(tag, ",")
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == option {
			return true
		}
	}
	return false
}
