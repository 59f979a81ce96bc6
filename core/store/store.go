// Package store keeps the cluster's objects. The Store interface is what the
// API server programs against; the etcd implementation is the only one, with
// an embedded etcd as the default and external endpoints when configured.
package store

import (
	"context"

	"github.com/skiff-sh/skiff/core/api"
)

// Store is a typed object store with optimistic concurrency and watch.
//
// Every object's metadata.resourceVersion is the etcd mod revision of its last
// write. Errors are *api.Status values (NotFound, AlreadyExists, Conflict,
// Gone) so callers classify them with api.IsNotFound and friends.
type Store interface {
	// Create stores a new object. It sets uid, creationTimestamp, generation
	// and resourceVersion; a taken name is AlreadyExists.
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	// Get reads one object. Cluster-scoped resources take namespace "".
	Get(ctx context.Context, res *api.Resource, namespace, name string) (api.Object, error)
	// List reads objects of a resource, in one namespace or all ("").
	List(ctx context.Context, res *api.Resource, namespace string, opts ListOptions) (*ListResult, error)
	// Update replaces an object. When obj's resourceVersion is set it must
	// match the stored one (else Conflict); empty means unconditional. uid,
	// creationTimestamp and the deletion mark are kept from the stored
	// object; generation grows when a field outside metadata and status
	// changes; a write that changes nothing is skipped. Removing the last
	// finalizer of an object marked for deletion deletes it.
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	// GuaranteedUpdate reads, applies mutate and writes, retrying on conflict.
	// mutate gets a fresh copy on each attempt and must not change the
	// name or namespace; its error aborts the update and is returned as is.
	GuaranteedUpdate(ctx context.Context, res *api.Resource, namespace, name string, mutate func(api.Object) error) (api.Object, error)
	// Delete removes an object. An object with finalizers is not removed: it
	// gets a deletionTimestamp and stays until its finalizers are cleared by
	// an Update, which then removes it. Returns the last state of the object.
	Delete(ctx context.Context, res *api.Resource, namespace, name string, opts DeleteOptions) (api.Object, error)
	// Watch streams changes after fromRevision (0 = from now: every change
	// made after Watch returns). A revision older than etcd's compaction
	// gives an Error event for which api.IsGone holds, then the channel
	// closes: the caller must re-list.
	Watch(ctx context.Context, res *api.Resource, namespace string, fromRevision int64) (Watcher, error)
	// Revision is the store's current revision.
	Revision(ctx context.Context) (int64, error)
	// Close ends the store's watches. It does not close the etcd client,
	// which belongs to whoever created it.
	Close() error
}

// ListOptions narrows and pages a list.
type ListOptions struct {
	// LabelSelector filters by labels; nil matches everything.
	LabelSelector api.Selector
	// FieldFilter, when set, keeps only objects for which it returns true.
	FieldFilter func(api.Object) bool
	// Limit caps the number of items returned (0 = no limit); Continue
	// resumes a paged list at a consistent revision.
	Limit    int64
	Continue string
}

// ListResult is one page of a list.
type ListResult struct {
	Items []api.Object
	// Revision is the store revision the list reflects; watch from it.
	Revision int64
	// Continue is set when more items remain.
	Continue string
	// Remaining counts the items after this page when Continue is set and
	// the list is not filtered; 0 means unknown.
	Remaining int64
}

// DeleteOptions guard a delete.
type DeleteOptions struct {
	// ResourceVersion, when set, must match (else Conflict).
	ResourceVersion string
	// UID, when set, must match (else Conflict): protects against deleting a
	// re-created object of the same name.
	UID string
	// GracePeriodSeconds is recorded as metadata.deletionGracePeriodSeconds.
	GracePeriodSeconds *int64
	// Finalizers to add when marking the object for deletion (e.g. the
	// foregroundDeletion finalizer). Giving any keeps the object, marked for
	// deletion, even if it had no finalizers of its own.
	AddFinalizers []string
}

// EventType is the type of a watch event, shared with the API server and
// the client (api.WatchEventType); the names below are api's WatchAdded
// and the rest, for the store's users.
type EventType = api.WatchEventType

const (
	Added    = api.WatchAdded
	Modified = api.WatchModified
	Deleted  = api.WatchDeleted
	Bookmark = api.WatchBookmark
	Error    = api.WatchError
)

// Event is one change seen by a watch. For Deleted, Object is the last state
// with resourceVersion set to the deletion's revision.
type Event struct {
	Type     EventType
	Object   api.Object
	Revision int64
	// Err is set for Error events (e.g. compaction: api.IsGone(Err)).
	Err error
}

// Watcher delivers events until Stop is called or its context ends; then
// ResultChan is closed.
type Watcher interface {
	ResultChan() <-chan Event
	Stop()
}
