package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

// maxRetries bounds the read-modify-write loops that lose a race to another
// writer; past it the caller gets a Conflict and decides.
const maxRetries = 20

// etcdStore implements Store on an etcd v3 cluster.
type etcdStore struct {
	cli  *clientv3.Client
	keys keys
	// closed ends every watch started by this store when Close is called.
	closed context.Context
	close  context.CancelFunc
}

var _ Store = (*etcdStore)(nil)

// NewEtcd returns a Store keeping objects under prefix (e.g. "/skiff") in the
// etcd cluster cli talks to. The caller keeps ownership of cli: Close ends
// the store's watches but does not close the client.
func NewEtcd(cli *clientv3.Client, prefix string) Store {
	closed, cancel := context.WithCancel(context.Background())
	return &etcdStore{cli: cli, keys: keys{prefix: strings.TrimRight(prefix, "/")}, closed: closed, close: cancel}
}

// now is the timestamp written into metadata: UTC, whole seconds, as in Kubernetes.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func (s *etcdStore) Create(ctx context.Context, obj api.Object) (api.Object, error) {
	res, err := resourceOf(obj)
	if err != nil {
		return nil, err
	}
	obj = api.DeepCopy(obj)
	meta := obj.GetObjectMeta()
	key, err := s.keys.objectKey(res, meta.Namespace, meta.Name)
	if err != nil {
		return nil, err
	}
	// A caller may draw the uid first (the API server does, so defaulting
	// can derive a Job's selector from it); keep it then.
	if meta.UID == "" {
		meta.UID = uuid.NewString()
	}
	meta.CreationTimestamp = now()
	meta.Generation = 1
	meta.DeletionTimestamp = nil
	meta.DeletionGracePeriodSeconds = nil
	data, err := encode(res, obj)
	if err != nil {
		return nil, err
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data))).
		Commit()
	if err != nil {
		return nil, etcdError(err, "store: create %s %q", res.GroupResource(), meta.Name)
	}
	if !resp.Succeeded {
		return nil, api.AlreadyExists(res, meta.Name)
	}
	setRevision(obj, resp.Header.Revision)
	return obj, nil
}

func (s *etcdStore) Get(ctx context.Context, res *api.Resource, namespace, name string) (api.Object, error) {
	key, err := s.keys.objectKey(res, namespace, name)
	if err != nil {
		return nil, err
	}
	kv, err := s.read(ctx, res, key, name)
	if err != nil {
		return nil, err
	}
	return decodeKV(res, kv)
}

// read fetches one key; a missing key is NotFound.
func (s *etcdStore) read(ctx context.Context, res *api.Resource, key, name string) (*mvccpb.KeyValue, error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, etcdError(err, "store: get %s %q", res.GroupResource(), name)
	}
	if len(resp.Kvs) == 0 {
		return nil, api.NotFound(res, name)
	}
	return resp.Kvs[0], nil
}

func (s *etcdStore) Update(ctx context.Context, obj api.Object) (api.Object, error) {
	res, key, want, err := s.updateTarget(obj)
	if err != nil {
		return nil, err
	}
	return s.readModifyWrite(ctx, res, key, obj.GetObjectMeta().Name, s.updateAttempt(ctx, res, key, want, obj))
}

// updateTarget is the resource and key of obj and the revision its
// resourceVersion requires (0: none).
func (s *etcdStore) updateTarget(obj api.Object) (res *api.Resource, key string, want int64, err error) {
	if res, err = resourceOf(obj); err != nil {
		return nil, "", 0, err
	}
	meta := obj.GetObjectMeta()
	if key, err = s.keys.objectKey(res, meta.Namespace, meta.Name); err != nil {
		return nil, "", 0, err
	}
	want, err = parseRevision(res, meta.Name, meta.ResourceVersion)
	return res, key, want, err
}

// updateAttempt writes obj over the stored state cur, which must be at
// revision want when want is set.
func (s *etcdStore) updateAttempt(ctx context.Context, res *api.Resource, key string, want int64, obj api.Object) func(cur *mvccpb.KeyValue) (api.Object, error) {
	return func(cur *mvccpb.KeyValue) (api.Object, error) {
		if want != 0 && cur.ModRevision != want {
			return nil, api.Conflict(res, obj.GetObjectMeta().Name)
		}
		// The write path sets metadata on its argument: give it a copy
		// per attempt so the caller's object is never changed.
		return s.tryUpdate(ctx, res, key, cur, api.DeepCopy(obj))
	}
}

func (s *etcdStore) GuaranteedUpdate(ctx context.Context, res *api.Resource, namespace, name string, mutate func(api.Object) error) (api.Object, error) {
	key, err := s.keys.objectKey(res, namespace, name)
	if err != nil {
		return nil, err
	}
	attempt := s.guaranteedAttempt(ctx, res, key, namespace, name, mutate)
	return s.readModifyWrite(ctx, res, key, name, func(cur *mvccpb.KeyValue) (api.Object, error) {
		return attempt(cur, nil)
	})
}

// guaranteedAttempt applies mutate to the stored state cur (decoded, unless
// the caller passes it decoded as obj) and writes the result.
func (s *etcdStore) guaranteedAttempt(ctx context.Context, res *api.Resource, key, namespace, name string, mutate func(api.Object) error) func(cur *mvccpb.KeyValue, obj api.Object) (api.Object, error) {
	return func(cur *mvccpb.KeyValue, obj api.Object) (api.Object, error) {
		// Each attempt decodes a fresh object, so mutate works on its own copy.
		if obj == nil {
			var err error
			if obj, err = decodeKV(res, cur); err != nil {
				return nil, err
			}
		}
		if err := mutate(obj); err != nil {
			return nil, err
		}
		if meta := obj.GetObjectMeta(); meta.Name != name || meta.Namespace != namespace {
			return nil, api.NewStatus(api.ReasonBadRequest, "store: update of %s %q: mutate changed the object's identity to %q; name and namespace cannot change", res.GroupResource(), api.KeyOf(namespace, name), meta.Key())
		}
		return s.tryUpdate(ctx, res, key, cur, obj)
	}
}

// readModifyWrite reads key and runs attempt on it until attempt does not
// lose a race (*lostRace), retrying with the state that won, at most
// maxRetries times.
func (s *etcdStore) readModifyWrite(ctx context.Context, res *api.Resource, key, name string, attempt func(cur *mvccpb.KeyValue) (api.Object, error)) (api.Object, error) {
	cur, err := s.read(ctx, res, key, name)
	if err != nil {
		return nil, err
	}
	return s.modifyWrite(ctx, res, name, cur, attempt)
}

// modifyWrite is readModifyWrite from a state already read.
func (s *etcdStore) modifyWrite(ctx context.Context, res *api.Resource, name string, cur *mvccpb.KeyValue, attempt func(cur *mvccpb.KeyValue) (api.Object, error)) (api.Object, error) {
	for range maxRetries {
		out, err := attempt(cur)
		race, lost := err.(*lostRace)
		if !lost {
			return out, err
		}
		cur = race.latest
	}
	return nil, retriesExhausted(res, name)
}

func retriesExhausted(res *api.Resource, name string) *api.Status {
	s := api.Conflict(res, name)
	s.Message = fmt.Sprintf("store: update of %s %q lost %d races to other writers in a row; retry later", res.GroupResource(), name, maxRetries)
	return s
}

// tryUpdate writes obj over cur if cur is still the stored state. When
// another writer got there first it returns a *lostRace carrying the latest
// stored value for the caller to retry with (NotFound if the object is gone).
func (s *etcdStore) tryUpdate(ctx context.Context, res *api.Resource, key string, cur *mvccpb.KeyValue, obj api.Object) (api.Object, error) {
	// Only the stored metadata and the raw top-level fields matter here:
	// decoding the whole stored object would double the cost of an update.
	what := fmt.Sprintf("stored %s at key %q", res.GroupResource(), cur.Key)
	oldFields, err := splitTopLevel(cur.Value, what)
	if err != nil {
		return nil, err
	}
	stored, err := oldFields.metadata(what)
	if err != nil {
		return nil, err
	}
	oldMeta, meta := &stored, obj.GetObjectMeta()
	if meta.UID != "" && meta.UID != oldMeta.UID {
		c := api.Conflict(res, meta.Name)
		c.Message = fmt.Sprintf("store: update of %s %q: precondition failed: uid in object %s, stored uid %s; the object was deleted and re-created", res.GroupResource(), meta.Name, meta.UID, oldMeta.UID)
		return nil, c
	}
	// Identity and the deletion mark belong to the store: Create and Delete
	// set them, an update cannot change them.
	meta.UID = oldMeta.UID
	meta.CreationTimestamp = oldMeta.CreationTimestamp
	meta.DeletionTimestamp = oldMeta.DeletionTimestamp
	meta.DeletionGracePeriodSeconds = oldMeta.DeletionGracePeriodSeconds
	meta.Generation = max(oldMeta.Generation, 1)
	data, err := encode(res, obj)
	if err != nil {
		return nil, err
	}
	newFields, err := splitTopLevel(data, fmt.Sprintf("new %s %q", res.GroupResource(), meta.Name))
	if err != nil {
		return nil, err
	}
	if specChanged(oldFields, newFields) {
		meta.Generation++
		if data, err = encode(res, obj); err != nil {
			return nil, err
		}
	}
	finalize := meta.DeletionTimestamp != nil && len(meta.Finalizers) == 0
	if !finalize && bytes.Equal(data, cur.Value) {
		// A no-op write would only wake every watcher: skip it, once sure
		// the state it matches is the stored one.
		if unverified(cur) {
			latest, err := s.read(ctx, res, key, meta.Name)
			if err != nil {
				return nil, err
			}
			if latest.ModRevision != cur.ModRevision {
				return nil, &lostRace{latest: latest}
			}
		}
		setRevision(obj, cur.ModRevision)
		return obj, nil
	}
	rev, err := s.putIf(ctx, res, key, meta.Name, cur.ModRevision, data)
	if err != nil {
		return nil, err
	}
	setRevision(obj, rev)
	if finalize {
		return s.finalize(ctx, res, key, obj, rev)
	}
	return obj, nil
}

// finalize deletes an object whose last finalizer was just removed by the
// write at rev. Watchers see that write, then the deletion of its result.
// If another writer got in between, its own write finalizes (or, if it added
// a finalizer, keeps) the object, so the latest state is returned as is.
func (s *etcdStore) finalize(ctx context.Context, res *api.Resource, key string, obj api.Object, rev int64) (api.Object, error) {
	name := obj.GetObjectMeta().Name
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, etcdError(err, "store: delete %s %q after its finalizers were removed", res.GroupResource(), name)
	}
	if resp.Succeeded {
		setRevision(obj, resp.Header.Revision)
		return obj, nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return decodeKV(res, kvs[0])
	}
	return obj, nil
}

// putIf writes data if key's mod revision is still modRev and returns the
// write's revision; otherwise a *lostRace with the latest stored value, or
// NotFound when the key is gone.
func (s *etcdStore) putIf(ctx context.Context, res *api.Resource, key, name string, modRev int64, data []byte) (int64, error) {
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
		Then(clientv3.OpPut(key, string(data))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return 0, etcdError(err, "store: update %s %q", res.GroupResource(), name)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	return 0, latestOrNotFound(res, name, resp)
}

// latestOrNotFound reads the Else branch of a failed guarded transaction.
func latestOrNotFound(res *api.Resource, name string, resp *clientv3.TxnResponse) error {
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return &lostRace{latest: kvs[0]}
	}
	return api.NotFound(res, name)
}

func (s *etcdStore) Delete(ctx context.Context, res *api.Resource, namespace, name string, opts DeleteOptions) (api.Object, error) {
	key, err := s.keys.objectKey(res, namespace, name)
	if err != nil {
		return nil, err
	}
	want, err := parseRevision(res, name, opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	return s.readModifyWrite(ctx, res, key, name, func(cur *mvccpb.KeyValue) (api.Object, error) {
		obj, err := decodeKV(res, cur)
		if err != nil {
			return nil, err
		}
		meta := obj.GetObjectMeta()
		if want != 0 && cur.ModRevision != want {
			return nil, preconditionFailed(res, name, "resourceVersion", opts.ResourceVersion, meta.ResourceVersion)
		}
		if opts.UID != "" && opts.UID != meta.UID {
			return nil, preconditionFailed(res, name, "uid", opts.UID, meta.UID)
		}
		if len(meta.Finalizers) > 0 || len(opts.AddFinalizers) > 0 {
			return s.markDeleted(ctx, res, key, cur, obj, opts)
		}
		return s.deleteIf(ctx, res, key, cur, obj)
	})
}

// markDeleted keeps an object that has finalizers: it sets deletionTimestamp
// (once, bumping generation as Kubernetes does), records the grace period
// and adds opts.AddFinalizers.
func (s *etcdStore) markDeleted(ctx context.Context, res *api.Resource, key string, cur *mvccpb.KeyValue, obj api.Object, opts DeleteOptions) (api.Object, error) {
	meta := obj.GetObjectMeta()
	changed := false
	if meta.DeletionTimestamp == nil {
		ts := now()
		meta.DeletionTimestamp = &ts
		meta.Generation++
		changed = true
	}
	// A repeated delete may shorten the grace period, never extend it.
	if g := opts.GracePeriodSeconds; g != nil && (meta.DeletionGracePeriodSeconds == nil || *g < *meta.DeletionGracePeriodSeconds) {
		meta.DeletionGracePeriodSeconds = new(*g)
		changed = true
	}
	for _, f := range opts.AddFinalizers {
		if !slices.Contains(meta.Finalizers, f) {
			meta.Finalizers = append(meta.Finalizers, f)
			changed = true
		}
	}
	if !changed {
		return obj, nil
	}
	data, err := encode(res, obj)
	if err != nil {
		return nil, err
	}
	rev, err := s.putIf(ctx, res, key, meta.Name, cur.ModRevision, data)
	if err != nil {
		return nil, err
	}
	setRevision(obj, rev)
	return obj, nil
}

// deleteIf removes the object if cur is still its stored state and returns
// it with resourceVersion set to the deletion's revision.
func (s *etcdStore) deleteIf(ctx context.Context, res *api.Resource, key string, cur *mvccpb.KeyValue, obj api.Object) (api.Object, error) {
	name := obj.GetObjectMeta().Name
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.ModRevision)).
		Then(clientv3.OpDelete(key)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, etcdError(err, "store: delete %s %q", res.GroupResource(), name)
	}
	if !resp.Succeeded {
		return nil, latestOrNotFound(res, name, resp)
	}
	setRevision(obj, resp.Header.Revision)
	return obj, nil
}

func preconditionFailed(res *api.Resource, name, field, want, got string) *api.Status {
	s := api.Conflict(res, name)
	s.Message = fmt.Sprintf("store: delete of %s %q: precondition failed: %s in precondition %s, in the stored object %s", res.GroupResource(), name, field, want, got)
	return s
}

// lostRace is returned inside the store when a guarded transaction failed
// because another writer changed the object; latest is its new state.
type lostRace struct{ latest *mvccpb.KeyValue }

func (e *lostRace) Error() string {
	return fmt.Sprintf("store: object at %q changed concurrently (now at revision %d)", e.latest.Key, e.latest.ModRevision)
}

func (s *etcdStore) Revision(ctx context.Context) (int64, error) {
	// A count of one key is the cheapest linearizable read that returns
	// the cluster's header revision.
	resp, err := s.cli.Get(ctx, s.keys.prefix+"/", clientv3.WithCountOnly())
	if err != nil {
		return 0, etcdError(err, "store: read current revision")
	}
	return resp.Header.Revision, nil
}

// Close ends every watch started by this store. The etcd client stays open:
// it belongs to the caller.
func (s *etcdStore) Close() error {
	s.close()
	return nil
}
