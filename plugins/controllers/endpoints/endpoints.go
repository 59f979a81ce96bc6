// Package endpoints is the Endpoints controller: for every Service with a
// selector it keeps an Endpoints object of the same name listing the IPs of
// the pods the selector matches, ready ones in addresses and the others in
// notReadyAddresses, with the service's ports resolved per pod.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// ManagedByLabel marks the Endpoints this controller writes, so it only
// ever deletes its own.
const ManagedByLabel = "endpoints.skiff.sh/managed-by"

const managedBy = "endpoints-controller"

// Controller reconciles the Endpoints of Services.
type Controller struct {
	client    *client.Client
	services  reconcile.Lister[*api.Service]
	pods      reconcile.Lister[*api.Pod]
	endpoints reconcile.Lister[*api.Endpoints]
	recorder  reconcile.Recorder
	log       *slog.Logger
	queue     *reconcile.Queue
}

var _ reconcile.Reconciler = (*Controller)(nil)

// Reconcile converges the Endpoints of the Service named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	svc, ok := c.services.GetByKey(key)
	current, exists := c.endpoints.GetByKey(key)
	if !ok {
		// The service is gone: its endpoints go with it, unless someone
		// else wrote them (endpoints for a service not created yet).
		if !exists || current.Labels[ManagedByLabel] != managedBy {
			return reconcile.Result{}, nil
		}
		uid := current.UID
		err := client.Delete[*api.Endpoints](ctx, c.client, current.Namespace, current.Name, client.DeleteOptions{Preconditions: &client.Preconditions{UID: &uid}})
		if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
			return reconcile.Result{}, fmt.Errorf("endpoints %q: delete after its service went: %w", key, err)
		}
		return reconcile.Result{}, nil
	}
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == "ExternalName" || svc.DeletionTimestamp != nil {
		// Selector-less services have endpoints managed by their users.
		return reconcile.Result{}, nil
	}
	pods := c.pods.List(svc.Namespace, api.SelectorFromSet(svc.Spec.Selector))
	subsets := ComputeSubsets(svc, pods)
	labels := maps.Clone(svc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = managedBy
	if exists && reflect.DeepEqual(current.Subsets, subsets) && equalLabels(current.Labels, labels) {
		return reconcile.Result{}, nil
	}
	if !exists {
		ep := &api.Endpoints{
			TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
			ObjectMeta: api.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name, Labels: labels},
			Subsets:    subsets,
		}
		_, err := client.Create(ctx, c.client, ep)
		if api.IsAlreadyExists(err) {
			// Created by someone else since the cache was read: its event
			// brings us back with the object to update.
			return reconcile.Result{}, nil
		}
		if err != nil {
			c.recorder.Eventf(svc, reconcile.EventWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s: %v", key, err)
			return reconcile.Result{}, fmt.Errorf("endpoints %q: create: %w", key, err)
		}
		return reconcile.Result{}, nil
	}
	updated := *current // shallow: Subsets and Labels are replaced, never modified
	updated.Labels = labels
	updated.Subsets = subsets
	if _, err := client.Update(ctx, c.client, &updated); err != nil {
		if api.IsConflict(err) || api.IsNotFound(err) {
			// A newer object is on its way to the cache; retry with it.
			return reconcile.Result{}, fmt.Errorf("endpoints %q: update raced: %w", key, err)
		}
		c.recorder.Eventf(svc, reconcile.EventWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s: %v", key, err)
		return reconcile.Result{}, fmt.Errorf("endpoints %q: update: %w", key, err)
	}
	return reconcile.Result{}, nil
}

func equalLabels(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// servicesFor returns the keys of the services in pod's namespace whose
// selector matches pod's labels.
func (c *Controller) servicesFor(pod *api.Pod) []string {
	var keys []string
	for _, svc := range c.services.List(pod.Namespace, nil) {
		if len(svc.Spec.Selector) > 0 && api.SelectorFromSet(svc.Spec.Selector).Matches(pod.Labels) {
			keys = append(keys, svc.Key())
		}
	}
	return keys
}

func (c *Controller) podChanged(obj api.Object) {
	for _, k := range c.servicesFor(obj.(*api.Pod)) {
		c.queue.Add(k)
	}
}

func (c *Controller) podUpdated(oldObj, newObj api.Object) {
	oldPod, pod := oldObj.(*api.Pod), newObj.(*api.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return
	}
	c.podChanged(pod)
	if !maps.Equal(oldPod.Labels, pod.Labels) {
		// Services it no longer matches must drop it.
		c.podChanged(oldPod)
	}
}
