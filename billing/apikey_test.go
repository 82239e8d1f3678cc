package billing

import "testing"

func TestAPIKeyTokenRoundTrip(t *testing.T) {
	id, token, hash, err := NewAPIKeySecret()
	if err != nil {
		t.Fatal(err)
	}
	gotID, secret, ok := ParseAPIKeyToken(token)
	if !ok || gotID != id {
		t.Fatalf("ParseAPIKeyToken(%q) = %q, %v; want id %q", token, gotID, ok, id)
	}
	if !SecretMatches(secret, hash) {
		t.Error("the secret does not match its own hash")
	}
	if SecretMatches(secret[:51]+"x", hash) {
		t.Error("a changed secret matches")
	}
	for _, bad := range []string{"", "ob_", "Bearer " + token, token + "x", "xx" + token[2:]} {
		if _, _, ok := ParseAPIKeyToken(bad); ok {
			t.Errorf("ParseAPIKeyToken(%q) accepted", bad)
		}
	}
}

func TestValidateKeyRequest(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		ok     bool
	}{
		{"ci", []string{"ingest"}, true},
		{"ops", []string{"admin", "finance"}, true},
		{"", []string{"admin"}, false},
		{"x", nil, false},
		{"x", []string{"viewer"}, false},
		{"x", []string{"root"}, false},
	}
	for _, tt := range tests {
		if err := ValidateKeyRequest(tt.name, tt.scopes); (err == nil) != tt.ok {
			t.Errorf("ValidateKeyRequest(%q, %v) = %v, want ok=%v", tt.name, tt.scopes, err, tt.ok)
		}
	}
}
