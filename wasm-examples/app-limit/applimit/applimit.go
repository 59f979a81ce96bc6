// Package applimit is a scheduler filter policy: at most Max pods of an app
// (pods sharing the value of the app label in one namespace) per node.
package applimit

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Descriptor names the policy.
var Descriptor = sdk.NewDescriptor("app-limit", sdk.PointFilter)

// Config is the policy's args.
type Config struct {
	// Max is the most pods of one app a node may run (required, >= 1).
	Max int `json:"max"`
	// Label names the app (default "app"); pods without it are not limited.
	Label string `json:"label"`
}

// AppLimit is the configured policy.
type AppLimit struct{ cfg Config }

var _ scheduler.FilterPlugin = (*AppLimit)(nil)

// New is the policy's factory.
func New(args sdk.Args, _ sdk.Handle) (any, error) {
	cfg := Config{Label: "app"}
	if err := args.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Max < 1 {
		return nil, fmt.Errorf("args: max: must be >= 1, got %d (set args: {max: N})", cfg.Max)
	}
	if cfg.Label == "" {
		return nil, fmt.Errorf("args: label: must not be empty")
	}
	return &AppLimit{cfg: cfg}, nil
}

// Filter implements scheduler.FilterPlugin.
func (a *AppLimit) Filter(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, reasons []string) error {
	app, ok := pod.Labels.Get(a.cfg.Label)
	if !ok {
		return nil
	}
	for i, slot := range candidates {
		count := 0
		for _, p := range nodes[slot].Pods {
			if p.Namespace == pod.Namespace && p.Labels.Value(a.cfg.Label) == app {
				count++
			}
		}
		if count >= a.cfg.Max {
			reasons[i] = fmt.Sprintf("node runs %d pods of %s=%s, the limit is %d", count, a.cfg.Label, app, a.cfg.Max)
		}
	}
	return nil
}
