// Package ownerlabel is an example controller: it keeps an annotation on
// every Deployment equal to a label of the Deployment's Namespace, so
// tooling that looks at Deployments (cost reports, alert routing) sees who
// owns them. A namespace without the label removes the annotation.
package ownerlabel

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Args configure the controller (process-controllers[].args).
type Args struct {
	// Label is the Namespace label to copy (default "owner").
	Label string `json:"label"`
	// Annotation is the Deployment annotation it is copied to (default
	// "skiff.io/owner").
	Annotation string `json:"annotation"`
}

// WithDefaults fills the empty fields.
func (a Args) WithDefaults() Args {
	if a.Label == "" {
		a.Label = "owner"
	}
	if a.Annotation == "" {
		a.Annotation = "skiff.io/owner"
	}
	return a
}

// Patch is the JSON merge patch that brings a Deployment's annotations to
// the Namespace's label, or nil when they already agree. A missing label
// removes the annotation.
func Patch(a Args, ns *api.Namespace, d *api.Deployment) []byte {
	want, labelled := ns.Labels[a.Label]
	have, annotated := d.Annotations[a.Annotation]
	if labelled == annotated && want == have {
		return nil
	}
	var value any // JSON null deletes the key
	if labelled {
		value = want
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{a.Annotation: value}}})
	return patch
}

// Factory builds the controller under name (the name its metrics carry).
func Factory(name string, args Args) reconcile.Factory {
	args = args.WithDefaults()
	return func(h *reconcile.Handle) (*reconcile.Controller, error) {
		nsInf := reconcile.InformerFor[*api.Namespace](h.Informers)
		depInf := reconcile.InformerFor[*api.Deployment](h.Informers)
		r := &reconciler{
			args:        args,
			client:      h.Client,
			namespaces:  reconcile.NewLister[*api.Namespace](nsInf),
			deployments: reconcile.NewLister[*api.Deployment](depInf),
		}
		ctrl := reconcile.NewController(name, r, h.Clock, h.Logger)
		ctrl.Watch(depInf, reconcile.KeyOfObject)
		// A label change concerns every Deployment in the namespace.
		ctrl.Watch(nsInf, func(obj api.Object) []string {
			var keys []string
			for _, d := range r.deployments.List(obj.GetObjectMeta().Name, nil) {
				keys = append(keys, d.Key())
			}
			return keys
		})
		return ctrl, nil
	}
}

type reconciler struct {
	args        Args
	client      *client.Client
	namespaces  reconcile.Lister[*api.Namespace]
	deployments reconcile.Lister[*api.Deployment]
}

func (r *reconciler) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	d, ok := r.deployments.GetByKey(key)
	if !ok || d.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	ns, ok := r.namespaces.Get("", d.Namespace)
	if !ok {
		return reconcile.Result{}, nil // the namespace is going away with its deployments
	}
	patch := Patch(r.args, ns, d)
	if patch == nil {
		return reconcile.Result{}, nil
	}
	// A merge patch touches only the annotation: no conflict with the
	// deployment controller writing the same object.
	if _, err := client.Patch[*api.Deployment](ctx, r.client, d.Namespace, d.Name, patch); err != nil && !api.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("deployment %s: set annotation %s: %w", key, r.args.Annotation, err)
	}
	return reconcile.Result{}, nil
}
