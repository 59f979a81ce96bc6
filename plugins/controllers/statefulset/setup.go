package statefulset

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Name is the controller's name in skiffd's configuration.
const Name = "statefulset"

// New builds the controller on h's shared informers. It takes no
// configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	setInf := reconcile.InformerFor[*api.StatefulSet](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	c := &Controller{
		client:   h.Client,
		sets:     reconcile.NewLister[*api.StatefulSet](setInf),
		pods:     reconcile.NewLister[*api.Pod](podInf),
		recorder: h.Recorder,
		clock:    h.Clock,
		log:      h.Logger,
		exp:      internal.NewExpectations(h.Clock),
		status:   internal.NewStatusBatcher(h.Clock),
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.queue = ctrl.Queue()
	ctrl.Watch(setInf, reconcile.KeyOfObject)
	ctrl.WatchHandler(podInf, reconcile.HandlerFuncs{AddFunc: c.podAdded, UpdateFunc: c.podUpdated, DeleteFunc: c.podDeleted})
	return ctrl, nil
}
