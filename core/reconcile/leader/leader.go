// Package leader elects one leader among several skiffd servers sharing an
// etcd, so only one of them runs the controllers and the scheduler.
//
// It is built on etcd's concurrency package: each candidate holds a Session
// (a lease kept alive in the background, with a TTL) and campaigns in an
// Election; the oldest live candidate key wins. When the leader dies its
// lease expires within the TTL and the next candidate takes over; when it
// stops cleanly it resigns, and the hand-over is immediate.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// KeyPrefix is where elections keep their keys in etcd.
const KeyPrefix = "/skiff/leader/"

// retryDelay is the wait before campaigning again after a failed session or
// campaign (etcd unreachable); short against any sensible TTL.
const retryDelay = time.Second

// Run campaigns for leadership of election name as identity until ctx ends.
// Each time it wins it calls onStartedLeading with a context that is
// cancelled when leadership is lost (the session expired, etcd was
// unreachable for longer than the TTL) or ctx ends; once that call has
// returned it calls onStoppedLeading and, unless ctx has ended, campaigns
// again. onStartedLeading must stop all leader-only work when its context
// ends. ttl is rounded up to whole seconds (etcd leases count seconds).
func Run(ctx context.Context, cli *clientv3.Client, name, identity string, ttl time.Duration,
	onStartedLeading func(ctx context.Context), onStoppedLeading func()) error {
	if name == "" || identity == "" {
		return fmt.Errorf("leader election: name and identity must be set, got name %q identity %q", name, identity)
	}
	if ttl < time.Second {
		return fmt.Errorf("leader election %q: ttl must be >= 1s, got %s", name, ttl)
	}
	log := slog.Default().With("election", name, "identity", identity)
	for ctx.Err() == nil {
		err := lead(ctx, cli, name, identity, ttl, log, onStartedLeading, onStoppedLeading)
		if err != nil && ctx.Err() == nil {
			log.Warn("leader election failed, retrying", "err", err, "in", retryDelay)
			select {
			case <-ctx.Done():
			case <-time.After(retryDelay):
			}
		}
	}
	return ctx.Err()
}

// lead runs one session: campaign, lead until the session ends, resign.
func lead(ctx context.Context, cli *clientv3.Client, name, identity string, ttl time.Duration, log *slog.Logger,
	onStartedLeading func(ctx context.Context), onStoppedLeading func()) error {
	seconds := int(math.Ceil(ttl.Seconds()))
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(seconds), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open etcd session: %w", err)
	}
	defer session.Close() // revokes the lease: followers see the key go at once
	election := concurrency.NewElection(session, KeyPrefix+name)

	// Campaign returns early with an error if ctx ends; a session that
	// expires while campaigning is caught by the check below.
	campaignCtx, stopCampaign := context.WithCancel(ctx)
	go func() {
		select {
		case <-session.Done():
			stopCampaign()
		case <-campaignCtx.Done():
		}
	}()
	err = election.Campaign(campaignCtx, identity)
	stopCampaign()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaign: %w", err)
	}
	select {
	case <-session.Done():
		return errors.New("session expired while campaigning")
	default:
	}

	log.Info("became leader", "ttl", fmt.Sprintf("%ds", seconds))
	leaderCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		onStartedLeading(leaderCtx)
	}()
	select {
	case <-session.Done():
		log.Warn("lost leadership: etcd session expired")
	case <-ctx.Done():
	case <-done:
		// The leader work ended by itself; give the lead to someone else.
	}
	cancel()
	<-done
	if onStoppedLeading != nil {
		onStoppedLeading()
	}
	// Resign with a fresh context: ctx may be done, and a quick resign saves
	// the followers a wait of up to one TTL.
	resignCtx, cancelResign := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelResign()
	if err := election.Resign(resignCtx); err != nil {
		log.Debug("resign failed; the lease will expire instead", "err", err)
	}
	log.Info("stopped leading")
	return nil
}

// Leader returns the identity of the current leader of election name, or
// "" when there is none.
func Leader(ctx context.Context, cli *clientv3.Client, name string) (string, error) {
	resp, err := cli.Get(ctx, KeyPrefix+name+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	if err != nil {
		return "", fmt.Errorf("leader election %q: read leader: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
