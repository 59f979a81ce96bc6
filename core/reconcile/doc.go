// Package reconcile is skiff's controller runtime: informers (list+watch
// into an indexed cache, shared per resource through a
// SharedInformerFactory), a rate-limited work queue, the level-triggered
// Reconciler contract, a Controller that wires informers to keys to workers,
// a Manager that runs named controllers, and an event Recorder. Leader
// election lives in the leader subpackage.
//
// Objects handed out by informers and listers are shared with the cache and
// every other controller in the process: treat them as read-only and
// api.DeepCopy one before changing it. Read paths never copy, which is what
// keeps thousands of objects cheap.
package reconcile
