// Package controller is the controller.v1 contract. A controller is level
// based: it is given the key of an object and the current state it asked for,
// and answers with the plan that converges it; the host applies the plan
// through the API and retries with backoff on error.
package controller

import (
	"context"
	"time"
)

// Key names an object; it never describes an event.
type Key struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// State is what the host read from its cache for one reconcile: the object
// (nil when it was deleted) and the objects it owns (by ownerReferences),
// all as JSON.
type State struct {
	Object []byte   `json:"object,omitempty"`
	Owned  [][]byte `json:"owned,omitempty"`
}

// Plan is what should change. Objects are JSON; Update and UpdateStatus carry
// the resourceVersion they were computed from, so a stale plan conflicts and
// is retried instead of overwriting newer state.
type Plan struct {
	Create       [][]byte `json:"create,omitempty"`
	Update       [][]byte `json:"update,omitempty"`
	UpdateStatus [][]byte `json:"updateStatus,omitempty"`
	Delete       []Key    `json:"delete,omitempty"`
	// RequeueAfter asks for another look after this long (0 = only on change).
	RequeueAfter time.Duration `json:"requeueAfter,omitempty"`
}

// Plugin reconciles objects of the kinds it names.
type Plugin interface {
	// Kinds are the kinds whose changes trigger Reconcile (the primary kind
	// first); owned kinds map back to their owner's key.
	Kinds() []string
	Reconcile(ctx context.Context, key Key, state State) (Plan, error)
}
