package htable

import (
	"strings"
	"testing"
)

// FuzzParseCellRef: the "table=>key" parser never panics, and what it
// accepts round-trips.
func FuzzParseCellRef(f *testing.F) {
	for _, s := range []string{"t=>k", " t =>$si", "a=>", "=>k", "t", "t=", "t=>>", "t\t=>x y", "t=x>k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, key, err := parseCellRef(s)
		if err != nil {
			return
		}
		if name == "" || key == "" || strings.ContainsAny(name, "= \t\r\n") {
			t.Fatalf("%q -> %q %q", s, name, key)
		}
		if !strings.HasSuffix(s, key) || !strings.Contains(s, name) {
			t.Fatalf("%q -> %q %q", s, name, key)
		}
	})
}

// FuzzParseCursor: htable.list cursors come from RPC clients.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0:0", "12:3", "", ":", "-1:2", "1:", "99999999999999999999:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err == nil && (c.Slot < 0 || c.Pos < 0) {
			t.Fatalf("%q -> %+v", s, c)
		}
	})
}
