package client

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
)

// Typed helpers over the untyped methods: the kind comes from the type
// parameter, so there is no per-kind client code.
//
//	pod, err := client.Get[*api.Pod](ctx, c, "default", "web-0")

// ResourceOf returns the resource of a kind type such as *api.Deployment.
// It panics for a type the registry does not know: that is a programming
// error, found by the first test that calls it.
func ResourceOf[T api.Object]() *api.Resource {
	var zero T
	res, ok := api.ResourceFor(zero)
	if !ok {
		panic(fmt.Sprintf("client: %T is not a registered kind", zero))
	}
	return res
}

// TypedList is one page of a typed list.
type TypedList[T api.Object] struct {
	Items           []T
	ResourceVersion string
	Continue        string
}

// Get reads one object of kind T.
func Get[T api.Object](ctx context.Context, c *Client, namespace, name string) (T, error) {
	obj, err := c.Get(ctx, ResourceOf[T](), namespace, name)
	return as[T](obj, err)
}

// List reads objects of kind T ("" = all namespaces).
func List[T api.Object](ctx context.Context, c *Client, namespace string, opts ListOptions) (*TypedList[T], error) {
	list, err := c.List(ctx, ResourceOf[T](), namespace, opts)
	if err != nil {
		return nil, err
	}
	out := &TypedList[T]{Items: make([]T, len(list.Items)), ResourceVersion: list.ResourceVersion, Continue: list.Continue}
	for i, obj := range list.Items {
		out.Items[i] = obj.(T)
	}
	return out, nil
}

// Create stores a new object of kind T.
func Create[T api.Object](ctx context.Context, c *Client, obj T) (T, error) {
	return as[T](c.Create(ctx, obj))
}

// Update replaces an object of kind T.
func Update[T api.Object](ctx context.Context, c *Client, obj T) (T, error) {
	return as[T](c.Update(ctx, obj))
}

// UpdateStatus replaces the status of an object of kind T.
func UpdateStatus[T api.Object](ctx context.Context, c *Client, obj T) (T, error) {
	return as[T](c.UpdateStatus(ctx, obj))
}

// Patch applies a JSON merge patch to an object of kind T (or to its
// subresource).
func Patch[T api.Object](ctx context.Context, c *Client, namespace, name string, mergePatch []byte, subresource ...string) (T, error) {
	return as[T](c.Patch(ctx, ResourceOf[T](), namespace, name, mergePatch, subresource...))
}

// Delete removes an object of kind T.
func Delete[T api.Object](ctx context.Context, c *Client, namespace, name string, opts DeleteOptions) error {
	return c.Delete(ctx, ResourceOf[T](), namespace, name, opts)
}

func as[T api.Object](obj api.Object, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	typed, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("client: server returned %T, want %T", obj, zero)
	}
	return typed, nil
}
