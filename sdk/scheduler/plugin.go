package scheduler

import "context"

// FilterPlugin decides which candidate nodes can run a pod. It is called
// once per pod with every candidate: nodes is the node table indexed by slot,
// candidates the slots to judge, and reasons (len(candidates)) receives, for
// each candidate, "" when the node fits or a short reason why not, e.g.
// "node has 3 pods of app web, limit 3". Filter may run concurrently for
// different pods and must not keep nodes, candidates or reasons after it
// returns.
type FilterPlugin interface {
	Filter(ctx context.Context, pod *Pod, nodes []*Node, candidates []int32, reasons []string) error
}

// ScorePlugin ranks the candidate nodes for a pod. scores (len(candidates))
// receives each candidate's score in [0, MaxNodeScore]. The same call rules as
// FilterPlugin apply.
type ScorePlugin interface {
	Score(ctx context.Context, pod *Pod, nodes []*Node, candidates []int32, scores []int64) error
}
