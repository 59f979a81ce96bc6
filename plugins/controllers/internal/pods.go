package internal

import (
	"math/rand/v2"
	"time"

	"github.com/skiff-sh/skiff/core/api"
)

// IsPodAvailable reports whether pod has been Ready for at least
// minReadySeconds at now.
func IsPodAvailable(pod *api.Pod, minReadySeconds int32, now time.Time) bool {
	c := api.GetPodCondition(&pod.Status, api.PodReady)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).After(now)
}

// NextAvailableIn is how long until a ready-but-not-yet-available pod
// becomes available (0 if it never will by waiting alone).
func NextAvailableIn(pod *api.Pod, minReadySeconds int32, now time.Time) time.Duration {
	c := api.GetPodCondition(&pod.Status, api.PodReady)
	if minReadySeconds == 0 || c == nil || c.Status != api.ConditionTrue || c.LastTransitionTime.IsZero() {
		return 0
	}
	d := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
	if d < 0 {
		return 0
	}
	return d + time.Second // condition times are whole seconds
}

// Alphanumerics without vowels and look-alikes, as Kubernetes uses for
// generated names, so a suffix never spells a word.
const alphanums = "bcdfghjklmnpqrstvwxz2456789"

// RandomSuffix returns n random characters from the Kubernetes alphabet.
func RandomSuffix(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphanums[rand.IntN(len(alphanums))]
	}
	return string(b)
}

// SafeEncode maps every byte of s to the same alphabet, as Kubernetes'
// rand.SafeEncodeString does for pod-template-hash values.
func SafeEncode(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = alphanums[int(c)%len(alphanums)]
	}
	return string(b)
}

// maxNameLength is the longest object name (a DNS-1123 subdomain label
// prefix leaves room for generated suffixes).
const maxNameLength = 63

// GenerateName returns base + "-" + 5 random characters, truncating base so
// the result fits in 63 characters.
func GenerateName(base string) string {
	const suffix = 5
	if len(base) > maxNameLength-suffix-1 {
		base = base[:maxNameLength-suffix-1]
	}
	return base + "-" + RandomSuffix(suffix)
}

// Replicas reads an optional replicas field; unset means 1, as in Kubernetes.
func Replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// MinPositive is the shorter of two waits, 0 meaning none.
func MinPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// Requeue is when an owner must be looked at again though no event may
// come: when one of its ready pods turns available under minReadySeconds,
// and, while writes it issued are unseen (not satisfied), when they stop
// being trusted. 0 means no such time.
func Requeue(satisfied bool, pods []*api.Pod, minReadySeconds int32, now time.Time) time.Duration {
	var next time.Duration
	if !satisfied {
		next = ExpectationsTimeout
	}
	for _, p := range pods {
		next = MinPositive(next, NextAvailableIn(p, minReadySeconds, now))
	}
	return next
}
