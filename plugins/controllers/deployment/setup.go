package deployment

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Name is the controller's name in skiffd's configuration.
const Name = "deployment"

// New builds the controller on h's shared informers. It takes no
// configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	dInf := reconcile.InformerFor[*api.Deployment](h.Informers)
	rsInf := reconcile.InformerFor[*api.ReplicaSet](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	c := &Controller{
		client:   h.Client,
		deploys:  reconcile.NewLister[*api.Deployment](dInf),
		rsets:    reconcile.NewLister[*api.ReplicaSet](rsInf),
		pods:     reconcile.NewLister[*api.Pod](podInf),
		recorder: h.Recorder,
		clock:    h.Clock,
		log:      h.Logger,
		status:   internal.NewStatusBatcher(h.Clock),
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	ctrl.Watch(dInf, reconcile.KeyOfObject)
	ctrl.Watch(rsInf, c.keysForReplicaSet)
	ctrl.Watch(podInf, c.keysForPod)
	return ctrl, nil
}
