package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

// RateLimit is a token bucket: PerSecond requests a second on average, up to Burst at once. A
// zero PerSecond means no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Defaults for the ingest limit of `outcomebill serve`: far above what one well-behaved sender
// needs (a batch carries up to 1,000 events), low enough that one runaway client with a leaked
// key cannot take every database connection from the others.
const (
	DefaultIngestRate  = 200
	DefaultIngestBurst = 400
)

// maxBuckets bounds the limiter's memory. Buckets exist only for authenticated keys, so the map
// is bounded by the keys table anyway; past this size, buckets that have refilled completely —
// which behave exactly like fresh ones — are dropped.
const maxBuckets = 10_000

// limiter keeps one token bucket per API key id. It is per process: N API replicas allow N times
// the rate in total, which is what a limit meant to stop one runaway client needs.
type limiter struct {
	limit RateLimit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(l RateLimit) *limiter {
	if l.Burst < 1 {
		l.Burst = max(1, int(math.Ceil(l.PerSecond)))
	}
	return &limiter{limit: l, now: time.Now, buckets: map[string]*bucket{}}
}

// take spends one token of key's bucket. When the bucket is empty it reports false and how long
// until a token is there again.
func (l *limiter) take(key string) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(l.limit.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = min(float64(l.limit.Burst), b.tokens+now.Sub(b.at).Seconds()*l.limit.PerSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.limit.PerSecond * float64(time.Second))
}

// sweep drops the buckets that are full by now.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.limit.PerSecond >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}

// rateLimit answers 429 with Retry-After when the request's key has spent its bucket. It runs
// after authentication (the bucket is the key's) and before the body is read, so a refused
// request costs no decoding and no database work. The error vocabulary of DESIGN.md §8 has no
// code for this; the body uses "invalid" and the status (429) and Retry-After carry the meaning.
func (l *limiter) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		ok, wait := l.take(keyID(c))
		if ok {
			c.Next()
			return
		}
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(max(1, secs)))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": errorBody{Code: billing.EINVALID,
			Message: fmt.Sprintf("rate limit of %g requests a second (burst %d) for this API key exceeded; retry after %d s",
				l.limit.PerSecond, l.limit.Burst, max(1, secs))}})
	}
}
