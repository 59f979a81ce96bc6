package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// decodeStrict checks the generic document m against obj's Go type, then
// decodes it. encoding/json's own strict mode names neither the path of an
// unknown field nor a close spelling, and matches names case-insensitively,
// so the check walks the document itself. raw, when set, is the JSON text m
// was parsed from: decoding it directly saves re-encoding m (the check has
// made sure every name matches exactly, so both decode alike).
func decodeStrict(m map[string]any, raw []byte, obj Object, label string) []string {
	c := strictChecker{}
	c.check(m, reflect.TypeOf(obj).Elem(), "")
	if len(c.problems) > 0 {
		// The fast pass visits keys in map order; report in key order.
		c = strictChecker{sorted: true}
		c.check(m, reflect.TypeOf(obj).Elem(), "")
		out := make([]string, len(c.problems))
		for i, p := range c.problems {
			out[i] = label + ": " + p
		}
		return out
	}
	var err error
	if raw == nil {
		raw, err = json.Marshal(m)
	}
	if err == nil {
		err = json.Unmarshal(raw, obj)
	}
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", label, err)}
	}
	return nil
}

type strictChecker struct {
	problems []string
	// sorted visits object keys in order, for stable messages; sorting is
	// only paid for when there is something to report.
	sorted bool
}

// keys are m's keys, in order when the checker reports.
func (c *strictChecker) keys(m map[string]any) iter.Seq[string] {
	if c.sorted {
		return slices.Values(sortedKeys(m))
	}
	return maps.Keys(m)
}

func (c *strictChecker) addf(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	c.problems = append(c.problems, msg)
}

var (
	quantityType    = reflect.TypeFor[resource.Quantity]()
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	timeType        = reflect.TypeFor[time.Time]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

func (c *strictChecker) check(v any, t reflect.Type, path string) {
	if v == nil { // null leaves the field at its zero value
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case quantityType:
		c.checkQuantity(v, path)
		return
	case intOrStringType:
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err != nil {
				c.addf(path, "expected integer or string, got number %s", n)
			}
		} else if _, ok := v.(string); !ok {
			c.addf(path, "expected integer or string, got %s", describeJSON(v))
		}
		return
	case timeType:
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339, s); !ok || err != nil {
			c.addf(path, "expected an RFC 3339 time such as \"2025-01-02T15:04:05Z\", got %s", describeJSON(v))
		}
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // a custom format this checker cannot know
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			c.addf(path, "expected string, got %s", describeJSON(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			c.addf(path, "expected boolean, got %s", describeJSON(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.checkInteger(v, t, path)
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			c.addf(path, "expected number, got %s", describeJSON(v))
		}
	case reflect.Slice:
		c.checkSlice(v, t, path)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.addf(path, "expected object, got %s", describeJSON(v))
			return
		}
		for k := range c.keys(m) {
			c.check(m[k], t.Elem(), path+"["+k+"]")
		}
	case reflect.Struct:
		c.checkStruct(v, t, path)
	}
}

func (c *strictChecker) checkQuantity(v any, path string) {
	var s string
	switch q := v.(type) {
	case string:
		s = q
	case json.Number:
		s = q.String()
	default:
		c.addf(path, "expected a quantity such as \"500m\" or \"1Gi\", got %s", describeJSON(v))
		return
	}
	if _, err := resource.ParseQuantity(s); err != nil {
		c.addf(path, "invalid quantity %q: use a number with an optional suffix such as \"500m\", \"2\", \"128Mi\" or \"1G\"", s)
	}
}

func (c *strictChecker) checkInteger(v any, t reflect.Type, path string) {
	n, ok := v.(json.Number)
	if !ok {
		c.addf(path, "expected integer, got %s", describeJSON(v))
		return
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		if f, ferr := n.Float64(); ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			i = int64(f) // 1e3 and 80.0 are integers written as floats
		} else {
			c.addf(path, "expected integer, got number %s", n)
			return
		}
	}
	bits := t.Bits()
	unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64
	var lo, hi int64 = math.MinInt64, math.MaxInt64
	if unsigned {
		lo = 0
		if bits < 64 {
			hi = 1<<bits - 1
		}
	} else if bits < 64 {
		lo, hi = -(1 << (bits - 1)), 1<<(bits-1)-1
	}
	if i < lo || i > hi {
		c.addf(path, "value %s is out of range for a %d-bit integer (%d to %d)", n, bits, lo, hi)
	}
}

func (c *strictChecker) checkSlice(v any, t reflect.Type, path string) {
	if t.Elem().Kind() == reflect.Uint8 { // []byte is base64 in JSON
		s, ok := v.(string)
		if !ok {
			c.addf(path, "expected a base64-encoded string, got %s", describeJSON(v))
		} else if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			c.addf(path, "expected a base64-encoded string (use stringData for plain text): %v", err)
		}
		return
	}
	arr, ok := v.([]any)
	if !ok {
		c.addf(path, "expected array, got %s", describeJSON(v))
		return
	}
	for i, item := range arr {
		c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
	}
}

func (c *strictChecker) checkStruct(v any, t reflect.Type, path string) {
	m, ok := v.(map[string]any)
	if !ok {
		c.addf(path, "expected object, got %s", describeJSON(v))
		return
	}
	fields := jsonFields(t)
	for k := range c.keys(m) {
		child := k
		if path != "" {
			child = path + "." + k
		}
		ft, known := fields.types[k]
		if why, ok := unsupportedField(t, k); !known && ok {
			c.problems = append(c.problems, fmt.Sprintf("field %q is not supported by skiff: %s", child, why))
			continue
		}
		if !known {
			msg := fmt.Sprintf("unknown field %q", child)
			if s := suggest(k, fields.names); s != "" {
				suggestion := s
				if path != "" {
					suggestion = path + "." + s
				}
				msg += fmt.Sprintf("; did you mean %q?", suggestion)
			}
			c.problems = append(c.problems, msg)
			continue
		}
		c.check(m[k], ft, child)
	}
}

type fieldSet struct {
	types map[string]reflect.Type
	names []string
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// jsonFields lists a struct's JSON field names as encoding/json sees them,
// with embedded structs without a name (`json:",inline"`) flattened.
func jsonFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{types: map[string]reflect.Type{}}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" && f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fs.types[name] = f.Type
			fs.names = append(fs.names, name)
		}
	}
	walk(t)
	slices.Sort(fs.names)
	fieldCache.Store(t, fs)
	return fs
}

// suggest returns the candidate closest to s when it is plausibly a typo:
// same letters in another case, or within a small edit distance.
func suggest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	for _, c := range candidates {
		if strings.EqualFold(c, s) {
			return c
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist <= max(1, min(3, len(s)/3)) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describeJSON names a generic JSON value's type, with the value when short.
func describeJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + x.String()
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
