package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// canonicalJSON is the canonical form an event's fingerprint hashes: what json.Marshal writes for
// the value json.Decoder (with UseNumber) reads from raw — object keys sorted, the last of
// repeated keys kept, no insignificant white space, numbers as written, strings escaped as
// encoding/json escapes them. It gets there without building the value: decoding into maps and
// marshalling them back was half of DecodeEvent's time, and DecodeEvent is most of a bulk
// import's CPU. raw must be valid JSON (DecodeEvent has checked it); FuzzCanonicalJSON holds the
// two ways to the same bytes.
func canonicalJSON(raw []byte) ([]byte, error) {
	c := canonicalizer{src: raw, out: make([]byte, 0, len(raw))}
	c.out = c.value(c.out)
	if c.err == nil {
		c.space()
		if c.i != len(c.src) {
			c.err = errNotCanonical
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return c.out, nil
}

var errNotCanonical = errors.New("not a single valid JSON value")

var canonicalLiterals = [][]byte{[]byte("true"), []byte("false"), []byte("null")}

type canonicalizer struct {
	src []byte
	i   int
	out []byte
	err error
}

func (c *canonicalizer) space() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *canonicalizer) fail() []byte {
	if c.err == nil {
		c.err = errNotCanonical
	}
	return nil
}

// value appends the canonical form of the value at c.i to dst.
func (c *canonicalizer) value(dst []byte) []byte {
	c.space()
	if c.err != nil || c.i >= len(c.src) {
		return c.fail()
	}
	switch b := c.src[c.i]; {
	case b == '{':
		return c.object(dst)
	case b == '[':
		return c.array(dst)
	case b == '"':
		s, raw, ok := c.str()
		if !ok {
			return c.fail()
		}
		return appendCanonicalString(dst, s, raw)
	case b == 't' || b == 'f' || b == 'n':
		for _, lit := range canonicalLiterals {
			if bytes.HasPrefix(c.src[c.i:], lit) {
				c.i += len(lit)
				return append(dst, lit...)
			}
		}
		return c.fail()
	default:
		// A number: encoding/json keeps its literal (json.Number) and writes it back as is.
		start := c.i
		for c.i < len(c.src) && strings.IndexByte("+-.0123456789eE", c.src[c.i]) >= 0 {
			c.i++
		}
		if c.i == start {
			return c.fail()
		}
		return append(dst, c.src[start:c.i]...)
	}
}

type canonicalMember struct {
	key      []byte // decoded
	keyRaw   []byte // the key's token, quotes included, when it can be written as is
	from, to int    // its value's canonical bytes in the shared buffer
}

func (c *canonicalizer) object(dst []byte) []byte {
	c.i++ // {
	members := make([]canonicalMember, 0, 16)
	vals := make([]byte, 0, 256)
	c.space()
	if c.i < len(c.src) && c.src[c.i] == '}' {
		c.i++
		return append(dst, "{}"...)
	}
	for {
		c.space()
		if c.i >= len(c.src) || c.src[c.i] != '"' {
			return c.fail()
		}
		key, keyRaw, ok := c.str()
		if !ok {
			return c.fail()
		}
		c.space()
		if c.i >= len(c.src) || c.src[c.i] != ':' {
			return c.fail()
		}
		c.i++
		from := len(vals)
		vals = c.value(vals)
		if c.err != nil {
			return nil
		}
		members = append(members, canonicalMember{key: key, keyRaw: keyRaw, from: from, to: len(vals)})
		c.space()
		if c.i >= len(c.src) {
			return c.fail()
		}
		if c.src[c.i] == ',' {
			c.i++
			continue
		}
		if c.src[c.i] != '}' {
			return c.fail()
		}
		c.i++
		break
	}
	// Sorted by key as a map's keys are; of a repeated key the last value is the map's, and the
	// stable sort keeps repeats in input order, so the last of each run is kept.
	slices.SortStableFunc(members, func(a, b canonicalMember) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	first := true
	for k, m := range members {
		if k+1 < len(members) && bytes.Equal(members[k+1].key, m.key) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendCanonicalString(dst, m.key, m.keyRaw)
		dst = append(dst, ':')
		dst = append(dst, vals[m.from:m.to]...)
	}
	return append(dst, '}')
}

func (c *canonicalizer) array(dst []byte) []byte {
	c.i++ // [
	dst = append(dst, '[')
	c.space()
	if c.i < len(c.src) && c.src[c.i] == ']' {
		c.i++
		return append(dst, ']')
	}
	for n := 0; ; n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = c.value(dst)
		if c.err != nil {
			return nil
		}
		c.space()
		if c.i >= len(c.src) {
			return c.fail()
		}
		if c.src[c.i] == ',' {
			c.i++
			continue
		}
		if c.src[c.i] != ']' {
			return c.fail()
		}
		c.i++
		return append(dst, ']')
	}
}

// str reads the string token at c.i. When the token needs no escaping either way — printable
// ASCII other than the quote, the backslash and the three characters encoding/json escapes for
// HTML — raw is the token itself and s its contents; otherwise raw is nil and s is decoded by
// encoding/json.
func (c *canonicalizer) str() (s []byte, raw []byte, ok bool) {
	start := c.i
	plain := true
	c.i++
	for c.i < len(c.src) {
		switch b := c.src[c.i]; {
		case b == '"':
			c.i++
			tok := c.src[start:c.i]
			if plain {
				return tok[1 : len(tok)-1], tok, true
			}
			var d string
			if err := json.Unmarshal(tok, &d); err != nil {
				return nil, nil, false
			}
			return []byte(d), nil, true
		case b == '\\':
			plain = false
			c.i += 2
			continue
		case b < 0x20 || b >= 0x7f || b == '<' || b == '>' || b == '&':
			plain = false
		}
		c.i++
	}
	return nil, nil, false
}

// appendCanonicalString writes s as json.Marshal writes a string: raw as is when str found it
// plain, encoding/json's own escaping otherwise.
func appendCanonicalString(dst []byte, s []byte, raw []byte) []byte {
	if raw != nil {
		return append(dst, raw...)
	}
	b, _ := json.Marshal(string(s)) // a string always marshals
	return append(dst, b...)
}
