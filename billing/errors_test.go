package billing

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorVocabularySurvivesWrapping(t *testing.T) {
	tests := []struct {
		err   error
		code  string
		msg   string
		field string
	}{
		{nil, "", "internal error", ""},
		{errors.New("dial tcp 10.0.0.1: refused"), EINTERNAL, "internal error", ""},
		{fmt.Errorf("customer c1: %w", NotFound("customer", "c1")), ENOTFOUND, `customer "c1" not found`, ""},
		{fmt.Errorf("create: %w", Invalid("currency", "unknown currency %q", "XYZ")), EINVALID, `unknown currency "XYZ"`, "currency"},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if tt.err == nil {
			continue
		}
		if got := ErrorMessage(tt.err); got != tt.msg {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.msg)
		}
		if got := ErrorField(tt.err); got != tt.field {
			t.Errorf("ErrorField(%v) = %q, want %q", tt.err, got, tt.field)
		}
	}
}
