package namespace

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Name is the controller's name in skiffd's configuration.
const Name = "namespace"

// DefaultNamespaces exist at all times: re-created if missing.
var DefaultNamespaces = []string{"default", "skiff-system"}

// New builds the controller on h's shared informers. It takes no
// configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	nsInf := reconcile.InformerFor[*api.Namespace](h.Informers)
	c := &Controller{
		client:     h.Client,
		namespaces: reconcile.NewLister[*api.Namespace](nsInf),
		recorder:   h.Recorder,
		log:        h.Logger,
		ensure:     DefaultNamespaces,
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	ctrl.Watch(nsInf, reconcile.KeyOfObject)
	// A deleted object may be the last one a Terminating namespace waits for.
	terminating := func(obj api.Object) []string {
		ns := obj.GetObjectMeta().Namespace
		if n, ok := c.namespaces.Get("", ns); ok && n.DeletionTimestamp != nil {
			return []string{ns}
		}
		return nil
	}
	for _, res := range api.Resources() {
		if !res.Namespaced {
			continue
		}
		inf := h.Informers.For(res)
		c.contents = append(c.contents, inf)
		ctrl.WatchHandler(inf, reconcile.HandlerFuncs{DeleteFunc: func(obj api.Object) {
			for _, k := range terminating(obj) {
				ctrl.Queue().Add(k)
			}
		}})
	}
	for _, name := range c.ensure {
		ctrl.Queue().Add(name)
	}
	return ctrl, nil
}
