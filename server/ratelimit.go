package server

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per key (a device ID), in memory: each key
// may spend burst tokens at once, refilled one per every. Buckets full
// again are forgotten, so it holds only the keys asking often.
type limiter struct {
	burst float64
	every time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// allow spends a token of key's at now, or says how long until one is
// there.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Duration(l.burst)*l.every {
		for k, b := range l.buckets {
			if l.refill(b, now) >= l.burst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens, b.at = l.refill(b, now), now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) * float64(l.every)))
	return false, wait
}

func (l *limiter) refill(b *bucket, now time.Time) float64 {
	d := now.Sub(b.at)
	if d < 0 {
		d = 0 // the clock stepped back: no new tokens, none lost
	}
	return min(l.burst, b.tokens+float64(d)/float64(l.every))
}
