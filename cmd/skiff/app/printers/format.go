package printers

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/core/api"
)

// Formats accepted by -o besides the tables ("" and "wide").
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
	FormatName = "name"
)

// list is what -o yaml/json print for several objects, as kubectl's List.
type list struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Items      []api.Object `json:"items"`
	Metadata   struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
}

// wrap returns the single object, or a List when asList is set.
func wrap(objs []api.Object, asList bool) any {
	if !asList && len(objs) == 1 {
		return objs[0]
	}
	if objs == nil {
		objs = []api.Object{}
	}
	return &list{APIVersion: "v1", Kind: "List", Items: objs}
}

// PrintYAML writes objs as YAML: one object alone, several (or asList) as a
// List, which `skiff apply -f` accepts back unchanged.
func PrintYAML(w io.Writer, objs []api.Object, asList bool) error {
	data, err := yaml.Marshal(wrap(objs, asList))
	if err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	_, err = w.Write(data)
	return err
}

// PrintJSON writes objs as indented JSON, like PrintYAML.
func PrintJSON(w io.Writer, objs []api.Object, asList bool) error {
	data, err := json.MarshalIndent(wrap(objs, asList), "", "    ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// PrintName writes "deployment.apps/web" per object.
func PrintName(w io.Writer, objs []api.Object) error {
	for _, obj := range objs {
		if _, err := fmt.Fprintln(w, QualifiedName(obj)); err != nil {
			return err
		}
	}
	return nil
}

// QualifiedName is "type.group/name" as kubectl prints it.
func QualifiedName(obj api.Object) string {
	kind := obj.GetTypeMeta().Kind
	name := obj.GetObjectMeta().Name
	if res, ok := api.ResourceForKind(kind); ok {
		return res.TypeName() + "/" + name
	}
	return kind + "/" + name
}
