// Package scheduler is the home of skiff's builtin scheduling policies, one
// package each, all written against the scheduler.v1 contract
// (sdk/scheduler) that process and WASM plugins implement too:
//
//	nodeunschedulable     filter  NodeUnschedulable
//	nodename              filter  NodeName
//	nodeaffinity          filter  NodeAffinity (nodeSelector, required)  score NodeAffinity (preferred)
//	tainttoleration       filter  TaintToleration                        score TaintToleration
//	noderesources         filter  NodeResourcesFit                       score LeastAllocated, MostAllocated
//	podtopologyspread     filter  PodTopologySpread                      score PodTopologySpread
//	interpodantiaffinity  filter  InterPodAntiAffinity
//
// skiffd registers them in cmd/skiffd/app/plugins.go; the tests here run
// them together through the scheduler's decision (core/schedule.Decide).
package scheduler
