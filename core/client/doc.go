// Package client is the Go client of the skiff API server, used by the CLI,
// node agents, controllers and process plugins.
//
// The core methods are untyped and keyed by *api.Resource (Get, List,
// Create, Update, UpdateStatus, Patch, Delete, GetScale, UpdateScale, Bind,
// Watch); generic helpers (Get[T], List[T], Create[T], ...) give typed
// access without per-kind code. Server errors are *api.Status values, so
// api.IsNotFound and friends classify them. ListWatch is the list-then-watch
// loop informers are built on.
package client
