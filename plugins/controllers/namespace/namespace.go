// Package namespace is the namespace controller: it empties namespaces
// being deleted, then lets them go, and makes sure the namespaces skiff
// relies on exist.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Finalizer is what the API server adds to a namespace on DELETE; the
// namespace stays (Terminating) until this controller removes it.
const Finalizer = "kubernetes"

// Phases of a namespace.
const (
	PhaseActive      = "Active"
	PhaseTerminating = "Terminating"
)

// drainRecheck is how often a Terminating namespace is looked at while
// objects remain (pods wait for their node agent to stop them).
const drainRecheck = time.Second

// Controller reconciles namespaces by name.
type Controller struct {
	client     *client.Client
	namespaces reconcile.Lister[*api.Namespace]
	contents   []*reconcile.Informer // one per namespaced resource
	recorder   reconcile.Recorder
	log        *slog.Logger
	ensure     []string
}

var _ reconcile.Reconciler = (*Controller)(nil)

// Reconcile converges the namespace named key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, ok := c.namespaces.Get("", key)
	if !ok {
		return reconcile.Result{}, c.ensureExists(ctx, key)
	}
	if ns.DeletionTimestamp == nil {
		if ns.Status.Phase == "" {
			return reconcile.Result{}, c.setPhase(ctx, ns, PhaseActive)
		}
		return reconcile.Result{}, nil
	}
	if ns.Status.Phase != PhaseTerminating {
		if err := c.setPhase(ctx, ns, PhaseTerminating); err != nil {
			return reconcile.Result{}, err
		}
	}
	remaining, err := c.deleteContents(ctx, ns.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if remaining > 0 {
		return reconcile.Result{RequeueAfter: drainRecheck}, nil
	}
	// The cache may lag: only a live, empty list lets the namespace go.
	if left, err := c.anyLeft(ctx, ns.Name); err != nil || left {
		return reconcile.Result{RequeueAfter: drainRecheck}, err
	}
	return reconcile.Result{}, c.finalize(ctx, ns)
}

// ensureExists re-creates a namespace skiff relies on.
func (c *Controller) ensureExists(ctx context.Context, name string) error {
	if !slices.Contains(c.ensure, name) {
		return nil
	}
	ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: api.ObjectMeta{Name: name}}
	_, err := client.Create(ctx, c.client, ns)
	if err != nil && !api.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %q: %w", name, err)
	}
	if err == nil {
		c.log.Info("created namespace", "namespace", name)
	}
	return nil
}

func (c *Controller) setPhase(ctx context.Context, ns *api.Namespace, phase string) error {
	cp := *ns
	cp.Status.Phase = phase
	if _, err := client.UpdateStatus(ctx, c.client, &cp); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("namespace %q: set phase %s: %w", ns.Name, phase, err)
	}
	return nil
}

// deleteContents deletes every cached object in the namespace that is not
// already going, and returns how many objects are still there.
func (c *Controller) deleteContents(ctx context.Context, namespace string) (int, error) {
	remaining := 0
	var errs []error
	for _, inf := range c.contents {
		objs, _ := inf.Cache().ByIndex(reconcile.IndexNamespace, namespace)
		remaining += len(objs)
		for _, obj := range objs {
			if obj.GetObjectMeta().DeletionTimestamp == nil {
				errs = append(errs, internal.DeleteObject(ctx, c.client, inf.Resource(), obj, client.PropagationBackground))
			}
		}
	}
	return remaining, errors.Join(errs...)
}

func (c *Controller) anyLeft(ctx context.Context, namespace string) (bool, error) {
	for _, inf := range c.contents {
		page, err := c.client.List(ctx, inf.Resource(), namespace, client.ListOptions{Limit: 1})
		if err != nil {
			return true, fmt.Errorf("namespace %q: list %s: %w", namespace, inf.Resource().Plural, err)
		}
		if len(page.Items) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// finalize removes the namespace finalizer (from metadata and, for
// manifests that set it, spec), which lets the store remove the namespace.
func (c *Controller) finalize(ctx context.Context, ns *api.Namespace) error {
	if !slices.Contains(ns.Finalizers, Finalizer) && !slices.Contains(ns.Spec.Finalizers, Finalizer) {
		return nil
	}
	cp := api.DeepCopy(ns)
	notOurs := func(f string) bool { return f == Finalizer }
	cp.Finalizers = slices.DeleteFunc(cp.Finalizers, notOurs)
	cp.Spec.Finalizers = slices.DeleteFunc(cp.Spec.Finalizers, notOurs)
	if _, err := client.Update(ctx, c.client, cp); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("namespace %q: remove finalizer %q: %w", ns.Name, Finalizer, err)
	}
	c.recorder.Eventf(ns, reconcile.EventNormal, "NamespaceDeleted", "Deleted all objects in namespace %s", ns.Name)
	return nil
}
