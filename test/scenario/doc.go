// Package scenario runs skiff's control plane in one process for tests:
// embedded etcd, the HTTPS API server, a controller manager, test nodes
// (fake node agents that renew their Leases and make pods Running and
// Ready) and, on request, the real scheduler (package scheduling). Tests
// drive it through the real client, as users would.
package scenario
