// Package reconcile benchmarks the controller manager at scale: 1,000
// Deployments of 10 replicas converging to 10,000 Running pods.
//
// The controller manager runs in a child process (this test binary,
// re-executed), so its CPU time is measured exactly with getrusage on that
// process, apart from the API server, etcd and the test nodes, which run in
// the parent. Run with SKIFF_BENCH=1 (make bench).
package reconcile
