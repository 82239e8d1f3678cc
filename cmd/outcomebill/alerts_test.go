package main

import (
	"fmt"
	"testing"
)

func TestParseNoticeDays(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // fmt of the days, or "error"
	}{
		{"", "[7]"},
		{"14", "[14]"},
		{"30, 7,1", "[30 7 1]"},
		{"7,7", "[7]"},
		{"off", "[]"},
		{"0", "[]"},
		{"7,x", "error"},
		{"-3", "error"},
		{"1000", "error"},
	} {
		got, err := parseNoticeDays(tc.in)
		s := fmt.Sprint(got)
		if err != nil {
			s = "error"
		}
		if s != tc.want {
			t.Errorf("parseNoticeDays(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
}
