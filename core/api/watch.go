package api

// WatchEventType is the type of a watch event: the "type" of each event a
// watch streams, and of the store's and the client's events, which alias
// it so an event's type passes from one to the other unconverted.
type WatchEventType string

// The watch event types, as Kubernetes names them on the wire.
const (
	WatchAdded    WatchEventType = "ADDED"
	WatchModified WatchEventType = "MODIFIED"
	WatchDeleted  WatchEventType = "DELETED"
	// WatchBookmark carries only a resourceVersion: the watch has seen
	// everything up to it.
	WatchBookmark WatchEventType = "BOOKMARK"
	// WatchError ends a watch; it carries a Status (e.g. 410 Gone).
	WatchError WatchEventType = "ERROR"
)
