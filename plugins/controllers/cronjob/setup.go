package cronjob

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Name is the controller's name in skiffd's configuration.
const Name = "cronjob"

// New builds the controller on h's shared informers. It takes no
// configuration; the clock in h decides when runs are due.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	cjInf := reconcile.InformerFor[*api.CronJob](h.Informers)
	jobInf := reconcile.InformerFor[*api.Job](h.Informers)
	c := &Controller{
		client:   h.Client,
		cronjobs: reconcile.NewLister[*api.CronJob](cjInf),
		jobs:     reconcile.NewLister[*api.Job](jobInf),
		recorder: h.Recorder,
		clock:    h.Clock,
		log:      h.Logger,
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	ctrl.Watch(cjInf, reconcile.KeyOfObject)
	ctrl.Watch(jobInf, reconcile.KeyOfControllerOwner("CronJob"))
	return ctrl, nil
}
