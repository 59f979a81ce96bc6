package subnet_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/client/clienttest"
	"github.com/skiff-sh/skiff/core/subnet"
)

var etcd *clienttest.Etcd

func TestMain(m *testing.M) { clienttest.RunMain(m, &etcd) }

func newAllocator(t *testing.T, cidr string, now func() time.Time) (*subnet.Allocator, *client.Client) {
	t.Helper()
	srv := etcd.NewServer(t)
	if _, err := client.Create(context.Background(), srv.Client, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: subnet.Namespace}}); err != nil && !api.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	a, err := subnet.New(subnet.Config{Client: srv.Client, ClusterCIDR: cidr, Grace: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a, srv.Client
}

func TestValidateClusterCIDR(t *testing.T) {
	for _, tc := range []struct {
		cluster, service string
		nodes            []string
		want             string
	}{
		{"10.244.0.0/16", "10.96.0.0/12", []string{"172.31.0.0/24"}, ""},
		{"10.244.0.0/16", "10.0.0.0/8", nil, "overlaps the service CIDR 10.0.0.0/8"},
		{"10.244.0.0/16", "", []string{"10.244.7.0/24"}, "overlaps the node network 10.244.7.0/24"},
		{"10.244.0.0/16", "", []string{"10.244.9.9"}, "overlaps the node network"},
		{"10.244.0.0/24", "", nil, "too small"},
		{"10.244.0.0", "", nil, "must be an IPv4 CIDR"},
		{"fd00::/48", "", nil, "must be an IPv4 CIDR"},
	} {
		_, err := subnet.ValidateClusterCIDR(tc.cluster, tc.service, tc.nodes)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s / %s / %v: got %v, want %q", tc.cluster, tc.service, tc.nodes, err, tc.want)
		}
	}
}

func TestAcquireIsExclusiveAndStable(t *testing.T) {
	a, _ := newAllocator(t, "10.244.0.0/20", nil)
	ctx := context.Background()
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := fmt.Sprintf("node-%d", i)
			s, err := a.Acquire(ctx, node, "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[node] = s
			mu.Unlock()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for node, s := range got {
		if seen[s] {
			t.Errorf("subnet %s leased twice (%v)", s, got)
		}
		seen[s] = true
		if again, err := a.Acquire(ctx, node, ""); err != nil || again != s {
			t.Errorf("node %s acquiring again: %s, %v; want its lease %s", node, again, err, s)
		}
	}
	taken := got["node-0"]
	if _, err := a.Acquire(ctx, "node-x", taken); err == nil || !strings.Contains(err.Error(), "leased by another node") {
		t.Errorf("requesting a leased subnet: %v", err)
	}
	if _, err := a.Acquire(ctx, "node-x", "10.9.0.0/24"); err == nil || !strings.Contains(err.Error(), "cluster CIDR") {
		t.Errorf("requesting a subnet outside the cluster CIDR: %v", err)
	}
}

func TestExhaustion(t *testing.T) {
	a, _ := newAllocator(t, "10.244.0.0/23", nil)
	for i := range 2 {
		if _, err := a.Acquire(context.Background(), fmt.Sprint("n", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Acquire(context.Background(), "n2", ""); err == nil || !strings.Contains(err.Error(), "all 2 /24 subnets") {
		t.Errorf("third node on a /23: %v", err)
	}
}

func TestReclaim(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, c := newAllocator(t, "10.244.0.0/16", clock)
	ctx := context.Background()
	for _, n := range []string{"alive", "dead", "gone"} {
		if n != "gone" {
			if _, err := client.Create(ctx, c, &api.Node{ObjectMeta: api.ObjectMeta{Name: n}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	leased := map[string]string{}
	for _, n := range []string{"alive", "dead", "gone"} {
		s, err := a.Acquire(ctx, n, "")
		if err != nil {
			t.Fatal(err)
		}
		leased[n] = s
	}
	freed, err := a.Reclaim(ctx)
	if err != nil || !slices.Equal(freed, []string{leased["gone"]}) {
		t.Fatalf("reclaim with one node object deleted: freed %v, %v; want %s", freed, err, leased["gone"])
	}
	mu.Lock()
	now = now.Add(2 * time.Minute) // past the grace period
	mu.Unlock()
	if err := a.Renew(ctx, "alive", leased["alive"]); err != nil {
		t.Fatal(err)
	}
	freed, err = a.Reclaim(ctx)
	if err != nil || !slices.Equal(freed, []string{leased["dead"]}) {
		t.Fatalf("reclaim after the grace period: freed %v, %v; want only the unrenewed %s", freed, err, leased["dead"])
	}
	if s, err := a.Acquire(ctx, "new", ""); err != nil || (s != leased["gone"] && s != leased["dead"]) {
		t.Errorf("a new node got %s, %v; want a reclaimed subnet", s, err)
	}
	if err := a.Renew(ctx, "alive", leased["dead"]); err == nil {
		t.Error("renewing another node's lease succeeded")
	}
}
