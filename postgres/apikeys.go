package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/billing"
)

const apiKeyColumns = `id, name, scopes, COALESCE(customer_id, ''), created_at, revoked_at, last_used_at`

func scanAPIKey(row pgx.Row) (billing.APIKey, error) {
	var k billing.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Scopes, &k.CustomerID, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt)
	return k, err
}

// CreateAPIKey makes a key with the given scopes and returns its record and the token, which is
// shown to the caller once and never stored. customerID binds a viewer key to its customer.
func (db *DB) CreateAPIKey(ctx context.Context, name string, scopes []string, customerID string) (billing.APIKey, string, error) {
	if customerID == "" {
		if err := billing.ValidateKeyRequest(name, scopes); err != nil {
			return billing.APIKey{}, "", err
		}
	}
	id, token, hash, err := billing.NewAPIKeySecret()
	if err != nil {
		return billing.APIKey{}, "", err
	}
	var cust *string
	if customerID != "" {
		cust = &customerID
	}
	k, err := scanAPIKey(db.Pool.QueryRow(ctx, `
		INSERT INTO api_keys (id, name, scopes, customer_id, secret_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+apiKeyColumns, id, name, scopes, cust, hash, db.Now()))
	if err != nil {
		return billing.APIKey{}, "", interpretError(err, "customer", customerID)
	}
	return k, token, nil
}

// CreateViewerKey makes a key bound to one customer that reads only that customer's
// labor-equivalent view and invoices.
func (db *DB) CreateViewerKey(ctx context.Context, customerID, name string) (billing.APIKey, string, error) {
	if _, err := db.Customer(ctx, customerID); err != nil {
		return billing.APIKey{}, "", err
	}
	if name == "" {
		name = "viewer for " + customerID
	}
	return db.CreateAPIKey(ctx, name, []string{billing.ScopeViewer}, customerID)
}

// Authenticate returns the live key a token belongs to. Every failure — malformed, unknown,
// wrong secret, revoked — is the same unauthorized error, so that a caller learns nothing about
// which keys exist.
func (db *DB) Authenticate(ctx context.Context, token string) (billing.APIKey, error) {
	denied := billing.Errorf(billing.EUNAUTHORIZED, "missing, malformed, unknown or revoked API key")
	id, secret, ok := billing.ParseAPIKeyToken(token)
	if !ok {
		return billing.APIKey{}, denied
	}
	var hash []byte
	var k billing.APIKey
	err := db.Pool.QueryRow(ctx, `SELECT `+apiKeyColumns+`, secret_hash FROM api_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.Name, &k.Scopes, &k.CustomerID, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt, &hash)
	if err == pgx.ErrNoRows {
		return billing.APIKey{}, denied
	}
	if err != nil {
		return billing.APIKey{}, err
	}
	if !billing.SecretMatches(secret, hash) || k.RevokedAt != nil {
		return billing.APIKey{}, denied
	}
	// last_used_at is advisory: updated at most once a minute so that authentication does not write
	// on every request.
	if now := db.Now(); k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		_, _ = db.Pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, now)
	}
	return k, nil
}

// APIKeys lists keys (never their secrets) by id.
func (db *DB) APIKeys(ctx context.Context, p billing.Page) ([]billing.APIKey, string, error) {
	return listPage(ctx, db, p, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2`,
		scanAPIKey, func(k billing.APIKey) string { return k.ID })
}

// RevokeAPIKey revokes a key; revoking it again is a no-op that returns the same record.
func (db *DB) RevokeAPIKey(ctx context.Context, id string) (billing.APIKey, error) {
	k, err := scanAPIKey(db.Pool.QueryRow(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2)
		WHERE id = $1 RETURNING `+apiKeyColumns, id, db.Now()))
	return k, interpretError(err, "API key", id)
}
