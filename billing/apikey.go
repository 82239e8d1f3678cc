package billing

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"slices"
	"strings"
	"time"
)

// Scopes of DESIGN.md §7. A viewer key is bound to one customer and reads only that customer's
// labor-equivalent view and invoices.
const (
	ScopeIngest  = "ingest"
	ScopeAdmin   = "admin"
	ScopeFinance = "finance"
	ScopeViewer  = "viewer"
)

// APIKey is a key's public record. The secret is shown once, when the key is created, and only its
// hash is stored.
type APIKey struct {
	ID         string
	Name       string
	Scopes     []string
	CustomerID string // set for viewer keys only
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Has reports whether the key carries scope.
func (k APIKey) Has(scope string) bool { return slices.Contains(k.Scopes, scope) }

// Key format: "ob_<id>_<secret>". The id (10 base32 characters) finds the row; the secret
// (32 random bytes, 52 base32 characters) is checked against its hash. Keys carry 256 bits of
// entropy, so a fast hash (SHA-256) is as safe as a slow KDF here — there is nothing to brute
// force — while keeping authentication to microseconds on every request.
const keyPrefix = "ob_"

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewAPIKeySecret returns a fresh key's id, the whole token to hand to the user once, and the hash
// to store.
func NewAPIKeySecret() (id, token string, hash []byte, err error) {
	var idBytes [6]byte
	var secret [32]byte
	if _, err = rand.Read(idBytes[:]); err != nil {
		return "", "", nil, err
	}
	if _, err = rand.Read(secret[:]); err != nil {
		return "", "", nil, err
	}
	id = strings.ToLower(keyEncoding.EncodeToString(idBytes[:]))[:10]
	s := strings.ToLower(keyEncoding.EncodeToString(secret[:]))
	sum := sha256.Sum256([]byte(s))
	return id, keyPrefix + id + "_" + s, sum[:], nil
}

// ParseAPIKeyToken splits a token into its id and secret, or reports false when it is not shaped
// like one of ours (so that nothing is looked up for it).
func ParseAPIKeyToken(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 10 || len(secret) != 52 {
		return "", "", false
	}
	return id, secret, true
}

// SecretMatches compares a presented secret with a stored hash in constant time.
func SecretMatches(secret string, hash []byte) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], hash) == 1
}

// ValidateKeyRequest checks the scopes of a new key: known scopes, at least one, no viewer scope
// (viewer keys are made per customer, through their own endpoint).
func ValidateKeyRequest(name string, scopes []string) error {
	if err := checkName("name", strings.TrimSpace(name)); err != nil {
		return err
	}
	if len(scopes) == 0 {
		return Invalid("scopes", "at least one of ingest, admin, finance is required")
	}
	for _, s := range scopes {
		switch s {
		case ScopeIngest, ScopeAdmin, ScopeFinance:
		case ScopeViewer:
			return Invalid("scopes", "viewer keys are created with POST /v1/customers/{customer_id}/viewer-keys")
		default:
			return Invalid("scopes", "unknown scope %q: want ingest, admin or finance", s)
		}
	}
	return nil
}
