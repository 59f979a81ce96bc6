package reconcile

import (
	"math"
	"sync"
	"time"
)

// RateLimiter decides how long a key waits before it is retried.
type RateLimiter interface {
	// When returns the delay before key's next retry and counts the failure.
	When(key string) time.Duration
	// Forget clears key's failure history after a success.
	Forget(key string)
	// NumRequeues is how many failures in a row key has had.
	NumRequeues(key string) int
}

// Default backoff bounds: a failing key is retried after 5ms, 10ms, 20ms, ...
// up to 1000s; the token bucket caps retries of all keys together.
const (
	DefaultBaseDelay  = 5 * time.Millisecond
	DefaultMaxDelay   = 1000 * time.Second
	DefaultRetryQPS   = 10
	DefaultRetryBurst = 100
)

// DefaultRateLimiter is the per-key exponential backoff (5ms..1000s) combined
// with an overall token bucket (10 retries/s, burst 100): the longer wait wins.
func DefaultRateLimiter(clock Clock) RateLimiter {
	return MaxOf(
		NewExponentialLimiter(DefaultBaseDelay, DefaultMaxDelay),
		NewBucketLimiter(clock, DefaultRetryQPS, DefaultRetryBurst),
	)
}

// ExponentialLimiter waits base*2^failures, capped at max, per key.
type ExponentialLimiter struct {
	mu        sync.Mutex
	failures  map[string]int
	base, max time.Duration
}

// NewExponentialLimiter returns a per-key exponential backoff.
func NewExponentialLimiter(base, max time.Duration) *ExponentialLimiter {
	return &ExponentialLimiter{failures: map[string]int{}, base: base, max: max}
}

func (l *ExponentialLimiter) When(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.failures[key]
	l.failures[key] = n + 1
	backoff := float64(l.base) * math.Pow(2, float64(n))
	if backoff > float64(l.max) {
		return l.max
	}
	return time.Duration(backoff)
}

func (l *ExponentialLimiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

func (l *ExponentialLimiter) NumRequeues(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures[key]
}

// BucketLimiter is a token bucket shared by all keys: qps tokens a second,
// at most burst saved up. Each retry takes a token, waiting for one when the
// bucket is empty, so a storm of failures cannot hammer the API server.
type BucketLimiter struct {
	mu     sync.Mutex
	clock  Clock
	qps    float64
	burst  float64
	tokens float64
	last   time.Time
}

// NewBucketLimiter returns a token bucket starting full.
func NewBucketLimiter(clock Clock, qps float64, burst int) *BucketLimiter {
	return &BucketLimiter{clock: clock, qps: qps, burst: float64(burst), tokens: float64(burst), last: clock.Now()}
}

func (b *BucketLimiter) When(string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.qps)
	b.last = now
	// Tokens may go negative: a reservation in the future, as x/time/rate does.
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.qps * float64(time.Second))
}

func (b *BucketLimiter) Forget(string)          {}
func (b *BucketLimiter) NumRequeues(string) int { return 0 }

type maxOf []RateLimiter

// MaxOf combines limiters: the delay is the longest any of them asks for.
func MaxOf(limiters ...RateLimiter) RateLimiter { return maxOf(limiters) }

func (m maxOf) When(key string) time.Duration {
	var d time.Duration
	for _, l := range m {
		d = max(d, l.When(key))
	}
	return d
}

func (m maxOf) Forget(key string) {
	for _, l := range m {
		l.Forget(key)
	}
}

func (m maxOf) NumRequeues(key string) int {
	n := 0
	for _, l := range m {
		n = max(n, l.NumRequeues(key))
	}
	return n
}
