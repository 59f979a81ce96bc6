package nodelifecycle

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

// Name is the controller's name in skiffd's configuration.
const Name = "nodelifecycle"

// Defaults, as in Kubernetes.
const (
	DefaultGracePeriod        = 40 * time.Second
	DefaultPodEvictionTimeout = 300 * time.Second
)

// Config is the controller's configuration (its `args:`); durations are Go
// duration strings ("40s", "5m").
type Config struct {
	// GracePeriod is how long a node may go without a heartbeat before it
	// is marked Ready=Unknown (nodeMonitorGracePeriod, default 40s).
	GracePeriod time.Duration
	// PodEvictionTimeout is how long pods without their own toleration of
	// the not-ready or unreachable taint stay on such a node (default 5m,
	// Kubernetes' default tolerationSeconds).
	PodEvictionTimeout time.Duration
}

type configJSON struct {
	GracePeriod        string `json:"gracePeriod,omitempty"`
	PodEvictionTimeout string `json:"podEvictionTimeout,omitempty"`
}

// Factory decodes args (JSON, may be empty) and returns a reconcile.Factory.
func Factory(args []byte) (reconcile.Factory, error) {
	cfg := Config{GracePeriod: DefaultGracePeriod, PodEvictionTimeout: DefaultPodEvictionTimeout}
	if len(args) > 0 {
		var raw configJSON
		if err := json.Unmarshal(args, &raw); err != nil {
			return nil, fmt.Errorf("controller %s: args: %w", Name, err)
		}
		for _, f := range []struct {
			name, value string
			dst         *time.Duration
		}{{"gracePeriod", raw.GracePeriod, &cfg.GracePeriod}, {"podEvictionTimeout", raw.PodEvictionTimeout, &cfg.PodEvictionTimeout}} {
			if f.value == "" {
				continue
			}
			d, err := time.ParseDuration(f.value)
			if err != nil {
				return nil, fmt.Errorf("controller %s: args.%s: %q is not a duration such as \"40s\" or \"5m\"", Name, f.name, f.value)
			}
			*f.dst = d
		}
	}
	if cfg.GracePeriod <= 0 {
		return nil, fmt.Errorf("controller %s: args.gracePeriod: must be > 0, got %s", Name, cfg.GracePeriod)
	}
	if cfg.PodEvictionTimeout < 0 {
		return nil, fmt.Errorf("controller %s: args.podEvictionTimeout: must be >= 0, got %s", Name, cfg.PodEvictionTimeout)
	}
	return func(h *reconcile.Handle) (*reconcile.Controller, error) { return New(h, cfg) }, nil
}

// New builds the controller on h's shared informers; zero fields of cfg
// take their defaults.
func New(h *reconcile.Handle, cfg Config) (*reconcile.Controller, error) {
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.PodEvictionTimeout == 0 {
		cfg.PodEvictionTimeout = DefaultPodEvictionTimeout
	}
	nodeInf := reconcile.InformerFor[*api.Node](h.Informers)
	leaseInf := reconcile.InformerFor[*api.Lease](h.Informers)
	podInf := reconcile.InformerFor[*api.Pod](h.Informers)
	endpointsInf := reconcile.InformerFor[*api.Endpoints](h.Informers)
	c := &Controller{
		client:    h.Client,
		nodes:     reconcile.NewLister[*api.Node](nodeInf),
		leases:    reconcile.NewLister[*api.Lease](leaseInf),
		pods:      reconcile.NewLister[*api.Pod](podInf),
		endpoints: reconcile.NewLister[*api.Endpoints](endpointsInf),
		recorder:  h.Recorder,
		clock:     h.Clock,
		log:       h.Logger,
		cfg:       cfg,
		probes:    map[string]*probe{},
		evicted:   map[string]time.Time{},
	}
	ctrl := reconcile.NewController(Name, c, h.Clock, h.Logger)
	ctrl.Watch(nodeInf, reconcile.KeyOfObject)
	ctrl.Watch(leaseInf, func(obj api.Object) []string {
		if meta := obj.GetObjectMeta(); meta.Namespace == LeaseNamespace {
			return []string{meta.Name}
		}
		return nil
	})
	// A pod landing on (or left on) a tainted or vanished node must be
	// looked at; pods of healthy nodes need nothing.
	ctrl.Watch(podInf, func(obj api.Object) []string {
		name := obj.(*api.Pod).Spec.NodeName
		if name == "" {
			return nil
		}
		if node, ok := c.nodes.Get("", name); ok && !hasNoExecute(node) && api.IsNodeReady(node) {
			return nil
		}
		return []string{name}
	})
	ctrl.WatchHandler(podInf, reconcile.HandlerFuncs{DeleteFunc: c.podDeleted})
	ctrl.Watch(endpointsInf, c.dnsKeys)
	return ctrl, nil
}

func hasNoExecute(node *api.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Effect == "NoExecute" {
			return true
		}
	}
	return false
}
