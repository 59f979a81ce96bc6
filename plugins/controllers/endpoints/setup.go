package endpoints

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Name is the controller's name in skiffd's configuration.
const Name = "endpoints"

// New builds the controller on h's shared informers. It takes no
// configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	svcInf := reconcile.InformerFor[*api.Service](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	epInf := reconcile.InformerFor[*api.Endpoints](h.Informers)
	c := &Controller{
		client:    h.Client,
		services:  reconcile.NewLister[*api.Service](svcInf),
		pods:      reconcile.NewLister[*api.Pod](podInf),
		endpoints: reconcile.NewLister[*api.Endpoints](epInf),
		recorder:  h.Recorder,
		log:       h.Logger,
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.queue = ctrl.Queue()
	ctrl.Watch(svcInf, reconcile.KeyOfObject)
	// An Endpoints object edited or deleted by hand is put back; one whose
	// service is gone is removed.
	ctrl.Watch(epInf, reconcile.KeyOfObject)
	ctrl.WatchHandler(podInf, reconcile.HandlerFuncs{AddFunc: c.podChanged, UpdateFunc: c.podUpdated, DeleteFunc: c.podChanged})
	return ctrl, nil
}
