// Package internal holds what the workload controllers share: expectations
// (so a reconcile never acts twice on writes its cache has not seen yet),
// claiming dependents through controller ownerReferences (adopt and
// release), pod availability and random name suffixes.
package internal
