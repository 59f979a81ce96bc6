// Package schedule is skiff's scheduler, in the shape of kube-scheduler's
// framework with plugin-first policies:
//
//   - Queue: an active heap (priority, then age), a backoff heap (1 s..10 s
//     per pod) and an unschedulable set retried on cluster changes and every
//     UnschedulableFlush;
//   - Cache: nodes with the requests of their bound and assumed pods,
//     published into an sdk scheduler.NodeTable so out-of-process plugins
//     sync only the nodes that changed;
//   - Decide: the pure decision for one pod and one snapshot — filter
//     policies narrow the candidates in batched calls (one per plugin per
//     pod, never one per node), score policies rank the feasible nodes
//     (normalised to 0-100, weighted, summed), ties broken at random;
//   - Scheduler: informers in, assume-on-bind, binding through the binding
//     subresource, PodScheduled=False and a FailedScheduling Event for pods
//     that fit nowhere.
//
// The policies come from the plugin host (see HostPolicies); the builtin
// ones live in plugins/scheduler.
package schedule
