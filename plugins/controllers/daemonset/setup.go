package daemonset

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Name is the controller's name in skiffd's configuration.
const Name = "daemonset"

// New builds the controller on h's shared informers. It takes no
// configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	dsInf := reconcile.InformerFor[*api.DaemonSet](h.Informers)
	nodeInf := reconcile.InformerFor[*api.Node](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	exp := internal.NewExpectations(h.Clock)
	c := &Controller{
		client:     h.Client,
		sets:       reconcile.NewLister[*api.DaemonSet](dsInf),
		nodes:      reconcile.NewLister[*api.Node](nodeInf),
		recorder:   h.Recorder,
		clock:      h.Clock,
		log:        h.Logger,
		exp:        exp,
		podControl: &internal.PodControl{Client: h.Client, Recorder: h.Recorder, Exp: exp},
		status:     internal.NewStatusBatcher(h.Clock),
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.queue = ctrl.Queue()
	c.owned = &internal.OwnedPods[*api.DaemonSet]{
		Kind: kind, Owners: c.sets, Pods: reconcile.NewLister[*api.Pod](podInf), Exp: exp, Queue: ctrl.Queue(),
		Selector: func(ds *api.DaemonSet) *api.LabelSelector { return ds.Spec.Selector },
	}
	ctrl.Watch(dsInf, reconcile.KeyOfObject)
	ctrl.WatchHandler(nodeInf, reconcile.HandlerFuncs{AddFunc: c.nodeChanged, UpdateFunc: c.nodeUpdated, DeleteFunc: c.nodeChanged})
	ctrl.WatchHandler(podInf, c.owned.Handler())
	return ctrl, nil
}
