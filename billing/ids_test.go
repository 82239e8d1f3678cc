package billing

import (
	"regexp"
	"strings"
	"testing"
)

// The patterns the loops of ids.go implement, as written in their comments.
var (
	idPattern          = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$`)
	outcomeTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
)

func patternID(s string) bool          { return idPattern.MatchString(s) }
func patternOutcomeType(s string) bool { return len(s) <= 100 && outcomeTypePattern.MatchString(s) }

func TestIDRulesMatchTheirPatterns(t *testing.T) {
	for _, s := range []string{
		"", "a", "Z", "0", "-a", ".a", "a-b", "a.b_c:d@e/f-g", "acme", "t_1", "ticket/123", "a b", "a\n", "é", "aé",
		"a\x00", strings.Repeat("a", 200), strings.Repeat("a", 201), strings.Repeat("a", 100), strings.Repeat("a", 101),
		"support.ticket_resolved", "support.", ".support", "support..x", "Support.x", "support.1x", "s1_.x_2", "a.b.c",
		"x" + strings.Repeat(".y", 49) + "z", "code.pr-merged", "_a", "a_", "a.", "a.b.",
	} {
		if got, want := ValidID(s), patternID(s); got != want {
			t.Errorf("ValidID(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := ValidOutcomeTypeKey(s), patternOutcomeType(s); got != want {
			t.Errorf("ValidOutcomeTypeKey(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

func FuzzIDRules(f *testing.F) {
	for _, s := range []string{"acme", "support.ticket_resolved", "a.b_c:d@e/f-g", "-a", "a..b", strings.Repeat("a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidID(s), patternID(s); got != want {
			t.Errorf("ValidID(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := ValidOutcomeTypeKey(s), patternOutcomeType(s); got != want {
			t.Errorf("ValidOutcomeTypeKey(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
