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
	exp := internal.NewExpectations(h.Clock)
	c := &Controller{
		client:   h.Client,
		sets:     reconcile.NewLister[*api.StatefulSet](setInf),
		recorder: h.Recorder,
		clock:    h.Clock,
		log:      h.Logger,
		exp:      exp,
		// Pods are named <set>-<ordinal>, not generated.
		podControl: &internal.PodControl{Client: h.Client, Recorder: h.Recorder, Exp: exp, StableNames: true},
		status:     internal.NewStatusBatcher(h.Clock),
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.owned = &internal.OwnedPods[*api.StatefulSet]{
		Kind: kind, Owners: c.sets, Pods: reconcile.NewLister[*api.Pod](podInf), Exp: exp, Queue: ctrl.Queue(),
		Selector: func(set *api.StatefulSet) *api.LabelSelector { return set.Spec.Selector },
	}
	ctrl.Watch(setInf, reconcile.KeyOfObject)
	ctrl.WatchHandler(podInf, c.owned.Handler())
	return ctrl, nil
}
