// Package api holds skiff's object model: Kubernetes-shaped kinds, the
// resource registry, Status errors, and the pure functions every other
// package uses on objects.
//
// An object travels through the package in this order on its way into the
// store:
//
//	objs, err := api.Decode(manifest)  // strict YAML/JSON -> typed objects
//	api.SetDefaults(obj)               // Kubernetes defaults, idempotent
//	err = api.Validate(obj)            // or ValidateUpdate(newObj, oldObj)
//
// Decode and DecodeInto fail with a *Status of reason BadRequest that names
// the document, the field path and the fix (a close spelling, the expected
// type, the apiVersion to use). Validate fails with a *Status of reason
// Invalid (HTTP 422) whose causes carry one field path each, printed the
// way kubectl prints them. The API server returns both unchanged.
//
// The API server sets metadata.namespace (when omitted) and metadata.uid
// before SetDefaults: a Job's pod selector is generated from its uid.
//
// Selectors: ParseSelector reads the `-l` string syntax,
// SelectorFromLabelSelector a workload's structured selector (nil matches
// nothing, empty matches everything), and ParseFieldSelector the
// `--field-selector` syntax for the fields each kind supports.
//
// helpers.go has the small predicates the scheduler, controllers, agent and
// CLI share (IsPodReady, PodRequests, TolerationsTolerateTaint, ...).
package api
