package replicaset

import (
	"encoding/json"
	"fmt"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
	"github.com/skiff-sh/skiff/plugins/controllers/internal"
)

// Name is the controller's name in skiffd's configuration.
const Name = "replicaset"

// Config is the controller's configuration (its `args:`).
type Config struct {
	// Burst caps the pods one reconcile creates or deletes (default 500).
	Burst int `json:"burst,omitempty"`
}

// DefaultBurst is Kubernetes' burstReplicas.
const DefaultBurst = 500

// Factory decodes args (JSON, may be empty) and returns a reconcile.Factory.
func Factory(args []byte) (reconcile.Factory, error) {
	cfg := Config{Burst: DefaultBurst}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &cfg); err != nil {
			return nil, fmt.Errorf("controller %s: args: %w", Name, err)
		}
	}
	if cfg.Burst < 1 {
		return nil, fmt.Errorf("controller %s: args.burst: must be >= 1, got %d", Name, cfg.Burst)
	}
	return func(h *reconcile.Handle) (*reconcile.Controller, error) { return New(h, cfg) }, nil
}

// New builds the controller on h's shared informers.
func New(h *reconcile.Handle, cfg Config) (*reconcile.Controller, error) {
	if cfg.Burst < 1 {
		cfg.Burst = DefaultBurst
	}
	rsInf := reconcile.InformerFor[*api.ReplicaSet](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	exp := internal.NewExpectations(h.Clock)
	c := &Controller{
		client:     h.Client,
		rsets:      reconcile.NewLister[*api.ReplicaSet](rsInf),
		recorder:   h.Recorder,
		clock:      h.Clock,
		log:        h.Logger,
		exp:        exp,
		podControl: &internal.PodControl{Client: h.Client, Recorder: h.Recorder, Exp: exp},
		status:     internal.NewStatusBatcher(h.Clock),
		burst:      cfg.Burst,
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	c.owned = &internal.OwnedPods[*api.ReplicaSet]{
		Kind: kind, Owners: c.rsets, Pods: reconcile.NewLister[*api.Pod](podInf), Exp: exp, Queue: ctrl.Queue(),
		Selector: func(rs *api.ReplicaSet) *api.LabelSelector { return rs.Spec.Selector },
	}
	ctrl.Watch(rsInf, reconcile.KeyOfObject)
	ctrl.WatchHandler(podInf, c.owned.Handler())
	return ctrl, nil
}
