package webhook_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/webhook"
)

func TestVerify(t *testing.T) {
	const secret = "whsec_test"
	body := []byte(`{"id":"evt_1","type":"invoice.finalized"}`)
	at := time.Unix(1_800_000_000, 0)
	signed := func() http.Header {
		h := http.Header{}
		webhook.Sign(h, secret, "whd_1", at, body)
		return h
	}
	tests := []struct {
		name   string
		header func() http.Header
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", signed, body, at.Add(time.Minute), nil},
		{"valid, clock behind", signed, body, at.Add(-time.Minute), nil},
		{"rotated: second signature matches", func() http.Header {
			h := signed()
			h.Set(webhook.HeaderSignature, "v1=00ff "+h.Get(webhook.HeaderSignature))
			return h
		}, body, at, nil},
		{"other secret", func() http.Header {
			h := http.Header{}
			webhook.Sign(h, "whsec_other", "whd_1", at, body)
			return h
		}, body, at, webhook.ErrBadSignature},
		{"body changed", signed, []byte(`{"id":"evt_2"}`), at, webhook.ErrBadSignature},
		{"timestamp changed", func() http.Header {
			h := signed()
			h.Set(webhook.HeaderTimestamp, "1800000001")
			return h
		}, body, at, webhook.ErrBadSignature},
		{"stale", signed, body, at.Add(6 * time.Minute), webhook.ErrStale},
		{"future", signed, body, at.Add(-6 * time.Minute), webhook.ErrStale},
		{"no headers", func() http.Header { return http.Header{} }, body, at, webhook.ErrMissingHeader},
		{"bad timestamp", func() http.Header {
			h := signed()
			h.Set(webhook.HeaderTimestamp, "yesterday")
			return h
		}, body, at, webhook.ErrBadTimestamp},
		{"not v1", func() http.Header {
			h := signed()
			h.Set(webhook.HeaderSignature, "v0="+h.Get(webhook.HeaderSignature)[3:])
			return h
		}, body, at, webhook.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(secret, tt.header(), tt.body, tt.now, 0)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
