package job

import (
	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Name is the controller's name in skiffd's configuration.
const Name = "job"

// New builds the controller on h's shared informers. It takes no
// configuration.
func New(h *reconcile.Handle) (*reconcile.Controller, error) {
	jobInf := reconcile.InformerFor[*api.Job](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	exp := internal.NewExpectations(h.Clock)
	c := &Controller{
		client:     h.Client,
		jobs:       reconcile.NewLister[*api.Job](jobInf),
		recorder:   h.Recorder,
		clock:      h.Clock,
		log:        h.Logger,
		exp:        exp,
		podControl: &internal.PodControl{Client: h.Client, Recorder: h.Recorder, Exp: exp},
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.owned = &internal.OwnedPods[*api.Job]{
		Kind: kind, Owners: c.jobs, Pods: reconcile.NewLister[*api.Pod](podInf), Exp: exp, Queue: ctrl.Queue(),
		Selector: func(job *api.Job) *api.LabelSelector { return job.Spec.Selector },
	}
	ctrl.Watch(jobInf, reconcile.KeyOfObject)
	ctrl.WatchHandler(podInf, c.owned.Handler())
	return ctrl, nil
}
