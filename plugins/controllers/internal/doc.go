// Package internal holds what the workload controllers share: expectations
// (so a reconcile never acts twice on writes its cache has not seen yet),
// OwnedPods (pod events routed to their owners, and the claiming of pods
// through controller ownerReferences: adopt and release), PodControl
// (creating and deleting an owner's pods with Events), batched status
// writes, pod availability and random name suffixes.
package internal
