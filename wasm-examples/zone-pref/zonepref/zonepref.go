// Package zonepref is a scheduler score policy: a pod annotated
// skiff.io/prefer-zone: a scores 100 on nodes labelled zone=a and 0 on the
// others. The same source is compiled into skiffd (builtin), served as a
// process plugin (../process) and built as a WASM guest (..).
package zonepref

import (
	"context"
	"fmt"

	"github.com/skiff-sh/skiff/sdk"
	"github.com/skiff-sh/skiff/sdk/scheduler"
)

// Descriptor names the policy.
var Descriptor = sdk.NewDescriptor("zone-pref", sdk.PointScore)

// Config is the policy's args; every field has a default.
type Config struct {
	// Annotation on the pod holding the preferred value.
	Annotation string `json:"annotation"`
	// Label on the node compared with it.
	Label string `json:"label"`
	// Score given to a matching node (others get 0).
	Score int64 `json:"score"`
}

// ZonePref is the configured policy.
type ZonePref struct {
	cfg   Config
	zones *scheduler.LabelIndex
}

var _ scheduler.ScorePlugin = (*ZonePref)(nil)

// New is the policy's factory.
func New(args sdk.Args, _ sdk.Handle) (any, error) {
	cfg := Config{Annotation: "skiff.io/prefer-zone", Label: "zone", Score: scheduler.MaxNodeScore}
	if err := args.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Annotation == "" || cfg.Label == "" {
		return nil, fmt.Errorf("args: annotation and label must not be empty")
	}
	if cfg.Score < 0 || cfg.Score > scheduler.MaxNodeScore {
		return nil, fmt.Errorf("args: score: must be in [0, %d], got %d", scheduler.MaxNodeScore, cfg.Score)
	}
	return &ZonePref{cfg: cfg, zones: scheduler.NewLabelIndex(cfg.Label)}, nil
}

// Score implements scheduler.ScorePlugin.
func (z *ZonePref) Score(_ context.Context, pod *scheduler.Pod, nodes []*scheduler.Node, candidates []int32, scores []int64) error {
	want, ok := pod.Annotations.Get(z.cfg.Annotation)
	if !ok {
		clear(scores)
		return nil
	}
	z.zones.Score(nodes, candidates, want, z.cfg.Score, scores)
	return nil
}
