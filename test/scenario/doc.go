// Package scenario runs skiff's control plane in one process for tests:
// embedded etcd, the HTTPS API server, a controller manager and test nodes
// (fake node agents that make pods Running and Ready). Tests drive it
// through the real client, as users would.
package scenario
