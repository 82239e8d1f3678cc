// Package webhook signs and verifies outcomebill's webhook requests. Receivers import it (or copy
// its thirty lines) to check that a request came from outcomebill and is fresh; outcomebill's
// worker signs with it. It imports only the standard library.
//
// A request carries three headers:
//
//	Webhook-Id:        the delivery's id, the same on every retry: the receiver's idempotency key
//	Webhook-Timestamp: when this attempt was signed, in Unix seconds
//	Webhook-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The signature covers the timestamp, so a captured request cannot be replayed once it falls
// outside the receiver's tolerance.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// DefaultTolerance is how far a timestamp may be from the receiver's clock, either way.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns; test them with errors.Is.
var (
	ErrMissingHeader = errors.New("webhook: missing Webhook-Timestamp or Webhook-Signature header")
	ErrBadTimestamp  = errors.New("webhook: timestamp is not Unix seconds")
	ErrStale         = errors.New("webhook: timestamp outside the tolerance")
	ErrBadSignature  = errors.New("webhook: no signature matches")
)

// Signature returns the value of the Webhook-Signature header for body signed at ts with secret.
func Signature(secret string, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

// Sign sets the three webhook headers on h for a delivery id and body signed at ts.
func Sign(h http.Header, secret, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Signature(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a request's headers and raw body (read before any JSON decoding) against secret:
// the timestamp must be within tolerance of now (DefaultTolerance when tolerance <= 0) and one of
// the v1 signatures in the header (space or comma separated, so that a secret can be rotated) must
// match. Comparisons take constant time.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tsHeader, sigHeader := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if tsHeader == "" || sigHeader == "" {
		return ErrMissingHeader
	}
	sec, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s off", ErrStale, d.Round(time.Second))
	}
	want := mac(secret, tsHeader, body)
	for _, s := range strings.FieldsFunc(sigHeader, func(r rune) bool { return r == ' ' || r == ',' }) {
		v, ok := strings.CutPrefix(s, "v1=")
		if !ok {
			continue
		}
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}
