package gc

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Name is the controller's name in skiffd's configuration.
const Name = "gc"

// New builds the garbage collector over shared informers of every kind the
// API serves. It takes no configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	c := &Collector{client: h.Client, informers: map[string]*reconcile.Informer{}, log: h.Logger}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.queue = ctrl.Queue()
	resources := api.Resources()
	for _, res := range resources {
		c.informers[resourceKey(res)] = h.Informers.For(res)
	}
	// Handlers go on after every informer is known: a handler's replay may
	// look up owners of other kinds.
	for _, res := range resources {
		ctrl.WatchHandler(c.informers[resourceKey(res)], c.handler(res))
	}
	return ctrl, nil
}
