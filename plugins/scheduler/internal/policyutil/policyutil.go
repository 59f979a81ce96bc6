// Package policyutil holds what several builtin scheduling policies share.
package policyutil

import (
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// HostnameLabel is the well-known per-node topology key.
const HostnameLabel = "kubernetes.io/hostname"

// NoArgs refuses any argument, for policies without configuration, so a
// misplaced `args:` is reported instead of ignored.
func NoArgs(name string, args sdk.Args) error {
	var none struct{}
	if err := args.Decode(&none); err != nil {
		return fmt.Errorf("%s takes no args: %w", name, err)
	}
	return nil
}

// Domain is the node's value of a topology key. A node without the
// hostname label is its own domain, named by the node.
func Domain(n *scheduler.Node, key string) (string, bool) {
	v, ok := n.Labels.Get(key)
	if !ok && key == HostnameLabel {
		return n.Name, true
	}
	return v, ok
}

// Factory is the factory of a policy without args: it refuses any args
// and returns a new T.
func Factory[T any](name string) sdk.Factory {
	return func(args sdk.Args, _ sdk.Handle) (any, error) {
		if err := NoArgs(name, args); err != nil {
			return nil, err
		}
		return new(T), nil
	}
}
