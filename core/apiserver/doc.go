// Package apiserver is skiff's HTTPS API: Kubernetes-shaped REST and watch
// over a store.Store.
//
// Paths: /api/v1/... for the core group and /apis/{group}/{version}/... for
// the others; namespaced objects under /namespaces/{ns}/{plural}[/{name}[/{sub}]],
// cluster-scoped ones under /{plural}[/{name}[/{sub}]], and /{plural} lists
// or watches a namespaced kind across all namespaces. GET /api, /apis,
// /api/v1 and /apis/{group}/{version} are discovery documents.
//
// Writes: decode strictly (JSON or YAML) -> apiVersion/kind must match the
// URL -> admission chain (mutating, then validating) -> api.SetDefaults ->
// api.Validate / api.ValidateUpdate -> store. The main resource never
// changes status and /status never changes anything else.
//
// Deletion: DeleteOptions come from the body or the query. Foreground adds
// the "foregroundDeletion" finalizer and Orphan the "orphan" finalizer, for
// the garbage collector. A pod bound to a node and not terminal is deleted
// gracefully: it gets a deletionTimestamp, deletionGracePeriodSeconds
// (request, else spec.terminationGracePeriodSeconds, else 30) and the
// "skiff.sh/pod-termination" finalizer; the node agent stops it and deletes
// it again with gracePeriodSeconds=0, which removes that finalizer and so
// the pod. A deleted Namespace keeps the "kubernetes" finalizer until the
// namespace controller has emptied it; creates into it are then 403.
//
// Watch (?watch=true) is served from a per-resource watch cache fed by one
// store watch: a ring of recent events (Config.WatchCacheSize) each encoded
// once. resourceVersion unset sends the current objects as ADDED first and
// then changes; "0" sends only changes from now; N sends every change after
// N, or an ERROR event with a 410 Gone Status when N is older than the
// ring. A watcher that falls Config.WatchBuffer events behind is closed (it
// re-watches from its last resourceVersion). With allowWatchBookmarks a
// BOOKMARK carrying the newest revision the watcher has caught up to is sent
// every Config.BookmarkInterval.
package apiserver
