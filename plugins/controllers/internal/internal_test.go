package internal

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/api"
	"github.com/skiff-sh/skiff/core/reconcile"
)

func TestExpectations(t *testing.T) {
	clock := reconcile.NewFakeClock(time.Unix(0, 0))
	e := NewExpectations(clock)
	if !e.Satisfied("ns/rs") {
		t.Fatal("an owner with no writes must be satisfied")
	}
	e.ExpectCreations("ns/rs", 2)
	e.ExpectDeletions("ns/rs", []string{"ns/p1"})
	e.CreationObserved("ns/rs")
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with one create and one delete outstanding")
	}
	e.CreationObserved("ns/rs")
	e.DeletionObserved("ns/rs", "ns/other") // not expected: ignored
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with a delete outstanding")
	}
	e.DeletionObserved("ns/rs", "ns/p1")
	e.DeletionObserved("ns/rs", "ns/p1") // a repeat (update then delete) is harmless
	if !e.Satisfied("ns/rs") {
		t.Fatal("not satisfied after every write was observed")
	}

	e.ExpectCreations("ns/rs", 1)
	clock.Step(ExpectationsTimeout + time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("a create never observed must stop blocking after the timeout")
	}
}

func TestIsPodAvailable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	pod := &api.Pod{}
	if IsPodAvailable(pod, 0, now) {
		t.Fatal("a pod without Ready condition is available")
	}
	pod.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: now.Add(-10 * time.Second)}}
	if !IsPodAvailable(pod, 0, now) || !IsPodAvailable(pod, 10, now) {
		t.Fatal("a pod ready for 10s must be available with minReadySeconds 0 and 10")
	}
	if IsPodAvailable(pod, 11, now) {
		t.Fatal("a pod ready for 10s is available with minReadySeconds 11")
	}
	if d := NextAvailableIn(pod, 15, now); d != 6*time.Second {
		t.Fatalf("NextAvailableIn = %s, want 6s (5s left + 1s for whole-second times)", d)
	}
}

func TestNames(t *testing.T) {
	name := GenerateName(strings.Repeat("a", 80))
	if len(name) != 63 || name[57] != '-' {
		t.Fatalf("GenerateName of a long base = %q (%d chars), want 63 with the suffix kept", name, len(name))
	}
	for _, r := range RandomSuffix(100) + SafeEncode("1234567890") {
		if !strings.ContainsRune(alphanums, r) {
			t.Fatalf("character %q outside the safe alphabet", r)
		}
	}
	if SafeEncode("3945712") != SafeEncode("3945712") || SafeEncode("1") == SafeEncode("2") {
		t.Fatal("SafeEncode must be deterministic and keep distinct inputs distinct")
	}
}
