package app

import (
	"fmt"
	"strings"

	"github.com/skiff-sh/skiff/core/api"
)

// target is one resource type and the names asked for (none = all).
type target struct {
	res   *api.Resource
	names []string
}

// parseTargets reads kubectl's resource arguments: "TYPE[,TYPE...] [NAME...]"
// or "TYPE/NAME [TYPE/NAME...]". Types may be plurals, singulars, short
// names or kinds, optionally group-qualified.
func parseTargets(args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("you must specify the type of resource, e.g. 'skiff get deployments'; types: %s", knownTypes())
	}
	if strings.Contains(args[0], "/") {
		var out []target
		for _, a := range args {
			typ, name, ok := strings.Cut(a, "/")
			if !ok || typ == "" || name == "" {
				return nil, fmt.Errorf("argument %q: expected TYPE/NAME like deployment/web (do not mix TYPE/NAME with TYPE NAME)", a)
			}
			res, err := resolveType(typ)
			if err != nil {
				return nil, err
			}
			out = appendName(out, res, name)
		}
		return out, nil
	}
	var out []target
	for _, typ := range strings.Split(args[0], ",") {
		res, err := resolveType(typ)
		if err != nil {
			return nil, err
		}
		out = append(out, target{res: res})
	}
	names := args[1:]
	for _, n := range names {
		if strings.Contains(n, "/") {
			return nil, fmt.Errorf("argument %q: there is no need to give a resource type as a separate argument when passing TYPE/NAME", n)
		}
	}
	if len(names) > 0 && len(out) > 1 {
		return nil, fmt.Errorf("names (%s) can be given with one resource type only, not %s; use TYPE/NAME for several types", strings.Join(names, " "), args[0])
	}
	if len(names) > 0 {
		out[0].names = names
	}
	return out, nil
}

// appendName adds name to the target of res, keeping first-seen order.
func appendName(ts []target, res *api.Resource, name string) []target {
	for i := range ts {
		if ts[i].res == res {
			ts[i].names = append(ts[i].names, name)
			return ts
		}
	}
	return append(ts, target{res: res, names: []string{name}})
}

// resolveType finds the resource a user typed.
func resolveType(typ string) (*api.Resource, error) {
	if res, ok := api.ResourceByName(typ); ok {
		return res, nil
	}
	return nil, fmt.Errorf("the server doesn't have a resource type %q; types: %s", typ, knownTypes())
}

func knownTypes() string {
	var names []string
	for _, r := range api.Resources() {
		names = append(names, r.Plural)
	}
	return strings.Join(names, ", ")
}

// oneTarget requires exactly one named object: "TYPE NAME" or "TYPE/NAME".
func oneTarget(args []string, verb string) (*api.Resource, string, error) {
	ts, err := parseTargets(args)
	if err != nil {
		return nil, "", err
	}
	if len(ts) != 1 || len(ts[0].names) != 1 {
		return nil, "", fmt.Errorf("%s takes one object: TYPE NAME or TYPE/NAME, e.g. 'skiff %s deployment web'", verb, verb)
	}
	return ts[0].res, ts[0].names[0], nil
}

// namespaceFor is the namespace a request on res uses: ns for namespaced
// resources, "" for cluster-scoped ones.
func namespaceFor(res *api.Resource, ns string) string {
	if res.Namespaced {
		return ns
	}
	return ""
}
