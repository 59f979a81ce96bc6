package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Decode reads manifests: multi-document YAML (`---`), or JSON (one object,
// several concatenated, or an array), where any document may be a List
// (`kind: List` with items). Empty documents are skipped. Decoding is strict:
// every problem is reported, one per line, naming the document, the field
// path and what to write instead. The error is a *Status with reason
// BadRequest. Objects come back in input order, their apiVersion and kind set.
func Decode(data []byte) ([]Object, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, badRequest([]string{err.Error()})
	}
	var objs []Object
	var problems []string
	for _, doc := range docs {
		o, p := decodeDocument(doc.value, doc.label)
		objs = append(objs, o...)
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return nil, badRequest(problems)
	}
	return objs, nil
}

// DecodeInto decodes one JSON or YAML object into obj, strictly, as the API
// server does with request bodies. apiVersion and kind may be omitted; when
// given they must be obj's. The error is a *Status with reason BadRequest.
func DecodeInto(data []byte, obj Object) error {
	wantVersion, wantKind := typeMetaFor(obj)
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' && decodeFast(trimmed, obj, wantVersion, wantKind) {
		if wantKind != "" {
			*obj.GetTypeMeta() = TypeMeta{APIVersion: wantVersion, Kind: wantKind}
		}
		return nil
	}
	return decodeIntoStrict(data, obj)
}

// decodeIntoStrict is DecodeInto through the generic document and the
// strict check, which word every problem.
func decodeIntoStrict(data []byte, obj Object) error {
	docs, err := splitDocuments(data)
	if err != nil {
		return badRequest([]string{err.Error()})
	}
	if len(docs) != 1 {
		return badRequest([]string{fmt.Sprintf("expected one object in the request body, found %d", len(docs))})
	}
	m, ok := docs[0].value.(map[string]any)
	if !ok {
		return badRequest([]string{"expected a JSON object in the request body, got " + describeJSON(docs[0].value)})
	}
	wantVersion, wantKind := typeMetaFor(obj)
	label := objectLabel(wantKind, m)
	apiVersion, kind := stringField(m, "apiVersion"), stringField(m, "kind")
	if kind != "" && wantKind != "" && kind != wantKind {
		return badRequest([]string{fmt.Sprintf("%s: kind %q does not match the %s this endpoint takes", label, kind, wantKind)})
	}
	if apiVersion != "" && wantVersion != "" && apiVersion != wantVersion {
		msg := fmt.Sprintf("%s: apiVersion %q does not serve %s; use apiVersion: %s", label, apiVersion, wantKind, wantVersion)
		if use, removed := removedAPIVersion(apiVersion, wantKind); removed {
			msg = fmt.Sprintf("%s: %s %s is no longer served; use apiVersion: %s", label, apiVersion, wantKind, use)
		}
		return badRequest([]string{msg})
	}
	// A body that is one JSON object decodes from its own text.
	var raw []byte
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		raw = trimmed
	}
	if problems := decodeStrict(m, raw, obj, label); len(problems) > 0 {
		return badRequest(problems)
	}
	tm := obj.GetTypeMeta()
	if wantKind != "" {
		*tm = TypeMeta{APIVersion: wantVersion, Kind: wantKind}
	}
	return nil
}

// EncodeJSON marshals obj with apiVersion and kind set from the registry,
// whatever its TypeMeta holds. obj itself is not modified.
func EncodeJSON(obj Object) ([]byte, error) {
	return json.Marshal(withTypeMeta(obj))
}

// EncodeYAML is EncodeJSON as YAML, keys sorted as kubectl prints them.
func EncodeYAML(obj Object) ([]byte, error) {
	data, err := EncodeJSON(obj)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(data)
}

// subresourceKinds are kinds the API uses in bodies but does not store.
var subresourceKinds = map[string]string{
	"Binding": "v1",
	"Scale":   "autoscaling/v1",
	"Status":  "v1",
}

func typeMetaFor(obj Object) (apiVersion, kind string) {
	if r, ok := ResourceFor(obj); ok {
		return r.APIVersion(), r.Kind
	}
	name := reflect.TypeOf(obj).Elem().Name()
	if v, ok := subresourceKinds[name]; ok {
		return v, name
	}
	tm := obj.GetTypeMeta()
	return tm.APIVersion, tm.Kind
}

// withTypeMeta returns obj, or a shallow copy with TypeMeta set when obj's
// is wrong, so shared objects (informer caches) are never written to.
func withTypeMeta(obj Object) Object {
	apiVersion, kind := typeMetaFor(obj)
	if tm := obj.GetTypeMeta(); tm.APIVersion == apiVersion && tm.Kind == kind {
		return obj
	}
	cp := reflect.New(reflect.TypeOf(obj).Elem())
	cp.Elem().Set(reflect.ValueOf(obj).Elem())
	out := cp.Interface().(Object)
	*out.GetTypeMeta() = TypeMeta{APIVersion: apiVersion, Kind: kind}
	return out
}

// removedVersions maps an apiVersion Kubernetes no longer serves, per kind,
// to the one to use.
var removedVersions = map[string]map[string]string{
	"extensions/v1beta1":          {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "DaemonSet": "apps/v1"},
	"apps/v1beta1":                {"Deployment": "apps/v1", "StatefulSet": "apps/v1"},
	"apps/v1beta2":                {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "DaemonSet": "apps/v1", "StatefulSet": "apps/v1"},
	"batch/v1beta1":               {"CronJob": "batch/v1"},
	"batch/v2alpha1":              {"CronJob": "batch/v1"},
	"coordination.k8s.io/v1beta1": {"Lease": "coordination.k8s.io/v1"},
}

func removedAPIVersion(apiVersion, kind string) (string, bool) {
	use, ok := removedVersions[apiVersion][kind]
	return use, ok
}

type document struct {
	label string // "document 2" or "document 1, item 3"
	value any    // generic JSON: map[string]any, []any, json.Number, ...
}

// splitDocuments parses the input into generic documents, skipping empty
// ones. YAML syntax errors name the document and the line in the input.
func splitDocuments(data []byte) ([]document, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return splitJSON(trimmed)
	}
	var docs []document
	for i, chunk := range splitYAML(data) {
		label := fmt.Sprintf("document %d", i+1)
		js, err := yaml.YAMLToJSONStrict(chunk.data)
		if err != nil {
			return nil, fmt.Errorf("%s: malformed YAML: %s", label, shiftYAMLLines(err.Error(), chunk.firstLine-1))
		}
		v, err := parseJSON(js)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", label, err)
		}
		if v != nil {
			docs = append(docs, document{label: label, value: v})
		}
	}
	return docs, nil
}

func splitJSON(data []byte) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var docs []document
	for i := 1; ; i++ {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: malformed JSON: %v", i, describeJSONSyntaxError(err, data))
		}
		if arr, ok := v.([]any); ok {
			for j, item := range arr {
				docs = append(docs, document{label: fmt.Sprintf("document %d, item %d", i, j+1), value: item})
			}
			continue
		}
		if v != nil {
			docs = append(docs, document{label: fmt.Sprintf("document %d", i), value: v})
		}
	}
}

func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// describeJSONSyntaxError adds the line of a JSON syntax error.
func describeJSONSyntaxError(err error, data []byte) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("line %d: %v", line, se)
	}
	return err.Error()
}

type yamlChunk struct {
	data      []byte
	firstLine int
}

var yamlSeparator = regexp.MustCompile(`^---(\s|$)`)

func splitYAML(data []byte) []yamlChunk {
	lines := strings.SplitAfter(string(data), "\n")
	var chunks []yamlChunk
	cur := yamlChunk{firstLine: 1}
	var b strings.Builder
	for i, line := range lines {
		if yamlSeparator.MatchString(line) {
			cur.data = []byte(b.String())
			chunks = append(chunks, cur)
			b.Reset()
			cur = yamlChunk{firstLine: i + 2}
			continue
		}
		b.WriteString(line)
	}
	cur.data = []byte(b.String())
	return append(chunks, cur)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// shiftYAMLLines turns a document-relative line number into the input's.
func shiftYAMLLines(msg string, offset int) string {
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.Join(strings.Fields(msg), " ")
	return yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		return "line " + strconv.Itoa(n+offset)
	})
}

// decodeDocument resolves a document's kind, expands Lists, and decodes.
func decodeDocument(v any, label string) ([]Object, []string) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []string{fmt.Sprintf("%s: expected an object with apiVersion and kind, got %s", label, describeJSON(v))}
	}
	apiVersion, kind := stringField(m, "apiVersion"), stringField(m, "kind")
	if kind == "List" || strings.HasSuffix(kind, "List") && isKnownKind(strings.TrimSuffix(kind, "List")) {
		items, ok := m["items"].([]any)
		if !ok && m["items"] != nil {
			return nil, []string{fmt.Sprintf("%s: %s items: expected array, got %s", label, kind, describeJSON(m["items"]))}
		}
		var objs []Object
		var problems []string
		for i, item := range items {
			o, p := decodeDocument(item, fmt.Sprintf("%s, item %d", label, i+1))
			objs = append(objs, o...)
			problems = append(problems, p...)
		}
		return objs, problems
	}
	label = label + " (" + objectLabel(kind, m) + ")"
	r, problem := resolveKind(apiVersion, kind)
	if problem != "" {
		return nil, []string{label + ": " + problem}
	}
	obj := r.NewObject()
	if problems := decodeStrict(m, nil, obj, label); len(problems) > 0 {
		return nil, problems
	}
	return []Object{obj}, nil
}

func objectLabel(kind string, m map[string]any) string {
	if kind == "" {
		kind = "object"
	}
	meta, _ := m["metadata"].(map[string]any)
	if name := stringField(meta, "name"); name != "" {
		return fmt.Sprintf("%s %q", kind, name)
	}
	return kind
}

func stringField(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func isKnownKind(kind string) bool {
	_, ok := ResourceForKind(kind)
	return ok
}

// resolveKind finds the resource for a manifest's apiVersion and kind, or
// says what to write instead.
func resolveKind(apiVersion, kind string) (*Resource, string) {
	if kind == "" {
		if apiVersion == "" {
			return nil, `missing apiVersion and kind; add them, e.g. "apiVersion: apps/v1" and "kind: Deployment"`
		}
		return nil, fmt.Sprintf("missing kind; add it, e.g. \"kind: %s\" (apiVersion %s serves %s)", firstOr(kindsOf(apiVersion), "Deployment"), apiVersion, orNone(kindsOf(apiVersion)))
	}
	r, ok := ResourceForKind(kind)
	if !ok {
		msg := fmt.Sprintf("unknown kind %q; supported kinds: %s", kind, strings.Join(supportedKinds(), ", "))
		for _, k := range supportedKinds() {
			if strings.EqualFold(k, kind) {
				msg = fmt.Sprintf("unknown kind %q; did you mean %q?", kind, k)
			}
		}
		return nil, msg
	}
	switch {
	case apiVersion == "":
		return nil, fmt.Sprintf("missing apiVersion; add \"apiVersion: %s\"", r.APIVersion())
	case apiVersion == r.APIVersion():
		return r, ""
	}
	if use, removed := removedAPIVersion(apiVersion, kind); removed {
		return nil, fmt.Sprintf("%s %s is no longer served; use apiVersion: %s", apiVersion, kind, use)
	}
	return nil, fmt.Sprintf("%s is not served under apiVersion %q; use apiVersion: %s", kind, apiVersion, r.APIVersion())
}

func supportedKinds() []string {
	var kinds []string
	for _, r := range resources {
		kinds = append(kinds, r.Kind)
	}
	slices.Sort(kinds)
	return kinds
}

func kindsOf(apiVersion string) []string {
	var kinds []string
	for _, r := range resources {
		if r.APIVersion() == apiVersion {
			kinds = append(kinds, r.Kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

func firstOr(list []string, def string) string {
	if len(list) == 0 {
		return def
	}
	return list[0]
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "no kinds skiff knows"
	}
	return strings.Join(list, ", ")
}

func badRequest(problems []string) error {
	return NewStatus(ReasonBadRequest, "%s", strings.Join(problems, "\n"))
}
