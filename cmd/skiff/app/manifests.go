package app

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
)

// manifest is one object read from a file, with where it came from for
// error messages.
type manifest struct {
	obj    api.Object
	res    *api.Resource
	source string
}

// name is "deployment.apps/web" for output lines.
func (m manifest) name() string { return m.res.TypeName() + "/" + m.obj.GetObjectMeta().Name }

// readManifests decodes every object in paths: files, directories (every
// .yaml, .yml and .json below, in lexical order) or "-" for stdin. All
// input is decoded before anything is sent, so a bad document changes
// nothing. Namespaces sort first so objects in them can be created.
func (o *options) readManifests(paths []string) ([]manifest, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("-f is required: a file, a directory or - for stdin")
	}
	var out []manifest
	for _, p := range paths {
		files, err := expandPath(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			var data []byte
			if f == "-" {
				data, err = io.ReadAll(o.In)
				f = "<stdin>"
			} else {
				data, err = os.ReadFile(f)
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", f, err)
			}
			objs, err := api.Decode(data)
			if err != nil {
				// Not %w: a decode problem is the client's, not "from server".
				return nil, fmt.Errorf("%s: %s", f, err)
			}
			for _, obj := range objs {
				m, err := o.toManifest(obj, f)
				if err != nil {
					return nil, err
				}
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no objects found in %s", strings.Join(paths, ", "))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].res.Kind == "Namespace" && out[j].res.Kind != "Namespace" })
	return out, nil
}

// toManifest checks an object and fills its namespace: the manifest's, else
// -n, else "default". A manifest namespace that contradicts an explicit -n
// is an error, as in kubectl.
func (o *options) toManifest(obj api.Object, source string) (manifest, error) {
	res, ok := api.ResourceFor(obj)
	if !ok {
		tm := obj.GetTypeMeta()
		return manifest{}, fmt.Errorf("%s: %s %s is not a kind skiff serves", source, tm.APIVersion, tm.Kind)
	}
	meta := obj.GetObjectMeta()
	if meta.Name == "" {
		return manifest{}, fmt.Errorf("%s: %s: metadata.name: must be set", source, res.Kind)
	}
	if !res.Namespaced {
		meta.Namespace = ""
	} else {
		if meta.Namespace != "" && o.namespace != "" && meta.Namespace != o.namespace {
			return manifest{}, fmt.Errorf("%s: %s %q: the namespace from the manifest (%s) does not match --namespace=%s; pass --namespace=%s or remove one of them",
				source, res.Singular, meta.Name, meta.Namespace, o.namespace, meta.Namespace)
		}
		if meta.Namespace == "" {
			meta.Namespace = o.Namespace()
		}
	}
	return manifest{obj: obj, res: res, source: source}, nil
}

// expandPath lists the manifest files of a path.
func expandPath(p string) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", p, err)
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", p, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("-f %s: no .yaml, .yml or .json files in the directory", p)
	}
	return files, nil
}
