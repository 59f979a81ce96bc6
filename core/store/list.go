package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/skiff-sh/skiff/core/api"
)

const (
	// minListBatch is the smallest etcd read of a filtered paged list: a
	// selective filter would otherwise cost one round trip per few items.
	minListBatch = 64
	// maxListBatch caps one etcd read so a big list never holds an
	// unbounded response in memory at once.
	maxListBatch = 1000
)

// continueToken is the decoded form of ListResult.Continue: the revision the
// first page was read at and the key to resume from, relative to the
// resource's prefix so a token reveals nothing of the key layout.
type continueToken struct {
	Revision int64  `json:"rev"`
	Start    string `json:"start"`
}

func encodeContinue(rev int64, start string) string {
	data, _ := json.Marshal(continueToken{Revision: rev, Start: start}) // a struct of a string and an int cannot fail
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(token string) (continueToken, error) {
	var tok continueToken
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(data, &tok)
	}
	if err == nil && (tok.Revision <= 0 || tok.Start == "") {
		err = errors.New("missing revision or start key")
	}
	if err != nil {
		return tok, api.NewStatus(api.ReasonBadRequest, "invalid continue token %q: %v; pass the continue value of the previous page unchanged, or list again without it", token, err)
	}
	return tok, nil
}

func (s *etcdStore) List(ctx context.Context, res *api.Resource, namespace string, opts ListOptions) (*ListResult, error) {
	prefix, err := s.keys.listPrefix(res, namespace)
	if err != nil {
		return nil, err
	}
	if opts.Limit < 0 {
		return nil, api.NewStatus(api.ReasonBadRequest, "list %s: limit must be >= 0 (0 = no limit), got %d", res.GroupResource(), opts.Limit)
	}
	resourcePrefix := s.keys.resourcePrefix(res)
	start, rev := prefix, int64(0)
	if opts.Continue != "" {
		tok, err := decodeContinue(opts.Continue)
		if err != nil {
			return nil, err
		}
		start, rev = resourcePrefix+tok.Start, tok.Revision
		if !strings.HasPrefix(start, prefix) {
			return nil, api.NewStatus(api.ReasonBadRequest, "continue token of another list: it resumes at %q, outside %s in namespace %q; list again without it", tok.Start, res.GroupResource(), namespace)
		}
	}
	filtered := opts.FieldFilter != nil || (opts.LabelSelector != nil && !opts.LabelSelector.Empty())
	batch := opts.Limit
	if filtered && batch > 0 {
		batch = max(batch, minListBatch)
	}
	batch = min(batch, maxListBatch)
	if batch == 0 {
		batch = maxListBatch
	}

	out := &ListResult{Revision: rev}
	end := clientv3.GetPrefixRangeEnd(prefix)
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(batch)}
		if out.Revision > 0 {
			// Every page after the first reads the first page's snapshot.
			getOpts = append(getOpts, clientv3.WithRev(out.Revision))
		}
		resp, err := s.cli.Get(ctx, start, getOpts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, api.NewStatus(api.ReasonGone, "the continue token is too old: revision %d of %s was compacted; start a new list without continue", out.Revision, res.GroupResource())
			}
			if errors.Is(err, rpctypes.ErrFutureRev) {
				return nil, api.NewStatus(api.ReasonBadRequest, "invalid continue token: revision %d is in the future; list again without continue", out.Revision)
			}
			return nil, etcdError(err, "store: list %s in namespace %q", res.GroupResource(), namespace)
		}
		if out.Revision == 0 {
			out.Revision = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			obj, err := decodeKV(res, kv)
			if err != nil {
				return nil, err
			}
			if opts.LabelSelector != nil && !opts.LabelSelector.Matches(obj.GetObjectMeta().Labels) {
				continue
			}
			if opts.FieldFilter != nil && !opts.FieldFilter(obj) {
				continue
			}
			out.Items = append(out.Items, obj)
			if opts.Limit > 0 && int64(len(out.Items)) == opts.Limit {
				left := resp.Count - int64(i) - 1
				if left > 0 {
					out.Continue = encodeContinue(out.Revision, strings.TrimPrefix(string(kv.Key), resourcePrefix)+"\x00")
					if !filtered {
						out.Remaining = left
					}
				}
				return out, nil
			}
		}
		if !resp.More {
			return out, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
