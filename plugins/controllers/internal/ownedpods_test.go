package internal

import (
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/reconcile"
)

func replicaSet(name, uid string) *api.ReplicaSet {
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: name, UID: uid}}
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	return rs
}

func ownedPod(name, rv string, labels map[string]string, owner *api.ReplicaSet) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv, Labels: labels}}
	if owner != nil {
		ref := api.NewControllerRef(owner)
		ref.Kind = "ReplicaSet" // the cached owner has no TypeMeta
		p.OwnerReferences = []api.OwnerReference{ref}
	}
	return p
}

// drain returns the keys queued so far.
func drain(q *reconcile.Queue) map[string]bool {
	keys := map[string]bool{}
	for q.Len() > 0 {
		k, _ := q.Get()
		q.Done(k)
		keys[k] = true
	}
	return keys
}

func TestOwnedPodsRoutesPodEventsToOwners(t *testing.T) {
	clock := reconcile.NewFakeClock(time.Unix(0, 0))
	inf := reconcile.NewInformer(nil, client.ResourceOf[*api.ReplicaSet](), nil)
	web, apiSet := replicaSet("web", "u-web"), replicaSet("api", "u-api")
	inf.Cache().Upsert(web)
	inf.Cache().Upsert(apiSet)
	q := reconcile.NewQueue(clock, reconcile.DefaultRateLimiter(clock))
	defer q.ShutDown()
	exp := NewExpectations(clock)
	o := &OwnedPods[*api.ReplicaSet]{Kind: "ReplicaSet", Owners: reconcile.NewLister[*api.ReplicaSet](inf), Exp: exp, Queue: q,
		Selector: func(rs *api.ReplicaSet) *api.LabelSelector { return rs.Spec.Selector }}
	h := o.Handler()

	exp.ExpectCreations("ns/web", 1)
	h.OnAdd(ownedPod("p1", "1", map[string]string{"app": "web"}, web))
	if keys := drain(q); !keys["ns/web"] || len(keys) != 1 || !exp.Satisfied("ns/web") {
		t.Fatalf("add of an owned pod queued %v, satisfied %v; want ns/web and the create observed", keys, exp.Satisfied("ns/web"))
	}

	// An orphan wakes every owner whose selector matches it, for adoption.
	h.OnAdd(ownedPod("stray", "2", map[string]string{"app": "api"}, nil))
	if keys := drain(q); !keys["ns/api"] || len(keys) != 1 {
		t.Fatalf("orphan queued %v, want ns/api", keys)
	}

	// A pod whose controller is a namesake with another UID belongs to no one.
	h.OnAdd(ownedPod("p2", "3", map[string]string{"app": "web"}, replicaSet("web", "u-old")))
	if keys := drain(q); len(keys) != 0 {
		t.Fatalf("pod of a vanished owner queued %v", keys)
	}

	// Moving from one owner to another wakes both; a resync (same
	// resourceVersion) wakes none.
	old := ownedPod("p1", "4", map[string]string{"app": "web"}, web)
	moved := ownedPod("p1", "5", map[string]string{"app": "web"}, apiSet)
	h.OnUpdate(old, old)
	if keys := drain(q); len(keys) != 0 {
		t.Fatalf("resync queued %v", keys)
	}
	h.OnUpdate(old, moved)
	if keys := drain(q); !keys["ns/web"] || !keys["ns/api"] {
		t.Fatalf("owner change queued %v, want both owners", keys)
	}

	// A graceful delete counts as the expected deletion at once.
	exp.ExpectDeletions("ns/web", []string{"ns/p1"})
	deleting := ownedPod("p1", "6", map[string]string{"app": "web"}, web)
	deleting.DeletionTimestamp = api.Ptr(clock.Now())
	h.OnUpdate(ownedPod("p1", "5", map[string]string{"app": "web"}, web), deleting)
	if keys := drain(q); !keys["ns/web"] || !exp.Satisfied("ns/web") {
		t.Fatalf("graceful delete queued %v, satisfied %v; want ns/web and the delete observed", keys, exp.Satisfied("ns/web"))
	}
}

func TestRequeue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	ready := &api.Pod{}
	ready.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: now.Add(-10 * time.Second)}}
	if d := Requeue(true, []*api.Pod{ready, {}}, 15, now); d != 6*time.Second {
		t.Fatalf("Requeue = %s, want 6s: the ready pod turns available then", d)
	}
	if d := Requeue(false, nil, 0, now); d != ExpectationsTimeout {
		t.Fatalf("Requeue with unseen writes = %s, want the expectations timeout", d)
	}
	if d := Requeue(true, []*api.Pod{ready}, 0, now); d != 0 {
		t.Fatalf("Requeue = %s, want 0: nothing changes with time", d)
	}
}
