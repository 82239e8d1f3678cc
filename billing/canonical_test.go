package billing

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// referenceCanonical is the canonical form by its definition: decode with UseNumber, marshal back.
func referenceCanonical(raw []byte) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

var canonicalSeeds = []string{
	`{"id":"e1","type":"task.started","customer_id":"acme","task_id":"t1","occurred_at":"2026-03-01T12:00:00Z","outcome_type":"support.ticket_resolved","metadata":{"b":1,"a":[1,2,{"z":null,"y":true}]}}`,
	`{ "b" : 1 , "a" : 2 }`,
	`{"a":1,"a":2,"b":{"x":1,"x":"last"}}`,
	`{"html":"<b>&amp;</b>","ctl":"a\u0001b\n\t\b\f","uni":"é — 日本 \u2028 \u2029","esc":"\"\\\/"}`,
	`{"k\u00e9y":1,"kéy":2,"\u003c":3}`,
	`{"n":[0,-0,1.50,1e3,1E+3,-2.5e-10,123456789012345678901234567890]}`,
	"{\"bad utf8\":\"\xff\xfe\",\"lone\":\"\\ud800\",\"pair\":\"\\ud83d\\ude00\"}",
	`{"empty":{},"arr":[],"nested":[[],[{}]],"s":""}`,
	"\n\t{\"a\" :\r\n[ 1 , 2 ] }\n",
	`{"quality":0.9,"cost":"0.0042","input_tokens":1000}`,
	`{"\u0041":1,"A":2}`,
}

func TestCanonicalJSONMatchesMarshal(t *testing.T) {
	for _, seed := range canonicalSeeds {
		want, err := referenceCanonical([]byte(seed))
		if err != nil {
			t.Fatalf("reference on %q: %v", seed, err)
		}
		got, err := canonicalJSON([]byte(seed))
		if err != nil {
			t.Errorf("canonicalJSON(%q): %v", seed, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("canonicalJSON(%q)\n got %s\nwant %s", seed, got, want)
		}
	}
}

// The fingerprints of events already stored were made by decoding and marshalling back; any
// valid JSON must come out byte for byte the same, or a resent event would become a conflict.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // DecodeEvent refuses it before fingerprinting
		}
		want, err := referenceCanonical(raw)
		if err != nil {
			t.Skip() // valid, but not one value the decoder takes alone
		}
		got, err := canonicalJSON(raw)
		if err != nil {
			t.Fatalf("canonicalJSON(%q): %v", raw, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("canonicalJSON(%q)\n got %s\nwant %s", raw, got, want)
		}
	})
}

func BenchmarkFingerprint(b *testing.B) {
	raw := []byte(canonicalSeeds[0])
	b.Run("canonical", func(b *testing.B) {
		for b.Loop() {
			if _, err := canonicalJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := referenceCanonical(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeEvent is the whole check of a typical event, fingerprint included: most of a bulk
// import's CPU and a share of every ingest request's.
func BenchmarkDecodeEvent(b *testing.B) {
	raw := []byte(`{"id":"evt-000123","type":"task.usage","customer_id":"acme","task_id":"task-42","occurred_at":"2026-03-01T12:00:10Z","model":"gpt-4.1-mini","input_tokens":1234,"output_tokens":321,"cached_input_tokens":500}`)
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := DecodeEvent(raw, now); err != nil {
			b.Fatal(err)
		}
	}
}
