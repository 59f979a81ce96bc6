package store

import (
	"context"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/skiff-sh/skiff/core/api"
)

// UpdaterFrom is an optional capability of a Store: updates that start from
// a copy of the stored object the caller already holds (the API server's
// watch cache, or an object it just read), which saves reading it again.
// The copy's resourceVersion says which state it is. The write is
// conditional on that state, so when the store has moved on the update
// behaves exactly as if it had read the newer state itself: a lost race.
type UpdaterFrom interface {
	// UpdateFrom is Update, starting from current, the stored state of
	// obj's object as the caller last saw it.
	UpdateFrom(ctx context.Context, obj, current api.Object) (api.Object, error)
	// GuaranteedUpdateFrom is GuaranteedUpdate, its first attempt mutating
	// a copy of current.
	GuaranteedUpdateFrom(ctx context.Context, current api.Object, mutate func(api.Object) error) (api.Object, error)
}

var _ UpdaterFrom = (*etcdStore)(nil)

// known is the stored form of current as etcd would return it, and a copy
// of current for a first attempt to work on; ok is false when current does
// not name a stored state (no resourceVersion) or is not the object at key.
func (s *etcdStore) known(res *api.Resource, key string, current api.Object) (kv *mvccpb.KeyValue, copied api.Object, ok bool) {
	meta := current.GetObjectMeta()
	rev, err := parseRevision(res, meta.Name, meta.ResourceVersion)
	if err != nil || rev == 0 {
		return nil, nil, false
	}
	if k, err := s.keys.objectKey(res, meta.Namespace, meta.Name); err != nil || k != key {
		return nil, nil, false
	}
	copied = api.DeepCopy(current)
	data, err := encode(res, copied)
	if err != nil {
		return nil, nil, false
	}
	setRevision(copied, rev)
	return &mvccpb.KeyValue{Key: []byte(key), Value: data, ModRevision: rev, Version: unverifiedVersion}, copied, true
}

// unverifiedVersion marks a state the caller supplied, which etcd has not
// confirmed (a key etcd returns has version >= 1). A conditional write
// confirms it; a skipped no-op write must read to be sure.
const unverifiedVersion = -1

func unverified(kv *mvccpb.KeyValue) bool { return kv.Version == unverifiedVersion }

func (s *etcdStore) UpdateFrom(ctx context.Context, obj, current api.Object) (api.Object, error) {
	res, key, want, err := s.updateTarget(obj)
	if err != nil {
		return nil, err
	}
	cur, _, ok := s.known(res, key, current)
	if !ok || (want != 0 && want != cur.ModRevision) {
		// A precondition the copy cannot decide: only the store can.
		return s.Update(ctx, obj)
	}
	return s.modifyWrite(ctx, res, obj.GetObjectMeta().Name, cur, s.updateAttempt(ctx, res, key, want, obj))
}

func (s *etcdStore) GuaranteedUpdateFrom(ctx context.Context, current api.Object, mutate func(api.Object) error) (api.Object, error) {
	res, err := resourceOf(current)
	if err != nil {
		return nil, err
	}
	meta := current.GetObjectMeta()
	key, err := s.keys.objectKey(res, meta.Namespace, meta.Name)
	if err != nil {
		return nil, err
	}
	cur, copied, ok := s.known(res, key, current)
	if !ok {
		return s.GuaranteedUpdate(ctx, res, meta.Namespace, meta.Name, mutate)
	}
	attempt := s.guaranteedAttempt(ctx, res, key, meta.Namespace, meta.Name, mutate)
	first := true
	return s.modifyWrite(ctx, res, meta.Name, cur, func(kv *mvccpb.KeyValue) (api.Object, error) {
		if first {
			// The copy is what decoding cur would give: skip the decode.
			first = false
			return attempt(kv, copied)
		}
		return attempt(kv, nil)
	})
}
