package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/outcomebill/outcomebill/billing"
)

const (
	requestIDKey = "request_id"
	apiKeyKey    = "api_key"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID takes a sane X-Request-ID from the client or makes one, and echoes it back so that a
// user reporting a failure can quote it.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// accessLog logs one line per request. It logs the path without the query and never a header, so
// API keys cannot reach the log.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		log.Info("http", "method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "request_id", c.GetString(requestIDKey),
			"key_id", keyID(c))
	}
}

func keyID(c *gin.Context) string {
	if k, ok := c.Get(apiKeyKey); ok {
		return k.(billing.APIKey).ID
	}
	return ""
}

// recovery turns a panic into a logged internal error instead of a dropped connection.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				renderError(c, fmt.Errorf("panic: %v", r))
			}
		}()
		c.Next()
	}
}

// limitBody caps every request body; the events endpoint gets more room for 1,000-event batches.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// authenticate resolves the bearer key, or answers 401.
func authenticate(auth Authenticator) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok {
			renderError(c, billing.Errorf(billing.EUNAUTHORIZED, "send an API key as Authorization: Bearer <key>"))
			return
		}
		k, err := auth.Authenticate(c.Request.Context(), strings.TrimSpace(token))
		if err != nil {
			renderError(c, err)
			return
		}
		c.Set(apiKeyKey, k)
		c.Next()
	}
}

// requireScope lets a request through when its key has any of scopes. Viewer keys have none of
// the vendor scopes, so they stop here on every vendor endpoint.
func requireScope(scopes ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		k := c.MustGet(apiKeyKey).(billing.APIKey)
		for _, s := range scopes {
			if k.Has(s) {
				c.Next()
				return
			}
		}
		renderError(c, billing.Errorf(billing.EFORBIDDEN, "this key lacks the %s scope", strings.Join(scopes, " or ")))
	}
}

// boundCustomer returns the customer a viewer key is bound to, or "" for a key with the finance
// scope, which reads every customer. Handlers of routes open to viewer keys hold them to it.
func boundCustomer(c *gin.Context) string {
	k := c.MustGet(apiKeyKey).(billing.APIKey)
	if k.Has(billing.ScopeFinance) {
		return ""
	}
	return k.CustomerID
}
