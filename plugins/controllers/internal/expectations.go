package internal

import (
	"sync"
	"time"

	"github.com/skiff-sh/skiff/core/reconcile"
)

// ExpectationsTimeout bounds how long a controller trusts writes it has not
// seen: a create whose watch event never arrives (the object was deleted at
// once, a watch was broken) must not freeze the owner forever.
const ExpectationsTimeout = 5 * time.Minute

// Expectations track, per owner key, the creates and deletes a controller
// has issued but not yet seen in its cache. While any are outstanding the
// owner's counts are unreliable, so the controller does not act on them.
type Expectations struct {
	clock reconcile.Clock
	mu    sync.Mutex
	byKey map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]struct{} // keys of dependents being deleted
	at      time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations(clock reconcile.Clock) *Expectations {
	return &Expectations{clock: clock, byKey: map[string]*expectation{}}
}

// Satisfied reports whether owner has no outstanding writes (or they timed out).
func (e *Expectations) Satisfied(owner string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.byKey[owner]
	if !ok {
		return true
	}
	if (exp.adds <= 0 && len(exp.deletes) == 0) || e.clock.Since(exp.at) > ExpectationsTimeout {
		delete(e.byKey, owner)
		return true
	}
	return false
}

// ExpectCreations records that n creates are about to be issued for owner.
func (e *Expectations) ExpectCreations(owner string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp := e.get(owner)
	exp.adds += n
}

// ExpectDeletions records that the dependents keys are about to be deleted.
func (e *Expectations) ExpectDeletions(owner string, keys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp := e.get(owner)
	for _, k := range keys {
		exp.deletes[k] = struct{}{}
	}
}

// CreationObserved lowers owner's outstanding creates by one: the cache saw
// one, or a create failed and will never be seen.
func (e *Expectations) CreationObserved(owner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.byKey[owner]; ok && exp.adds > 0 {
		exp.adds--
	}
}

// DeletionObserved clears the expected delete of dependent key; repeats and
// unexpected keys are ignored.
func (e *Expectations) DeletionObserved(owner, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.byKey[owner]; ok {
		delete(exp.deletes, key)
	}
}

// Forget drops everything about owner (it was deleted).
func (e *Expectations) Forget(owner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, owner)
}

func (e *Expectations) get(owner string) *expectation {
	exp, ok := e.byKey[owner]
	if !ok {
		exp = &expectation{deletes: map[string]struct{}{}}
		e.byKey[owner] = exp
	}
	exp.at = e.clock.Now()
	return exp
}
