package pike

import (
	"net/netip"
	"testing"
)

func TestParseIP(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"::1", "::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.1"},
		{"[127.0.0.1]", ""},
		{"1.2.3.999", ""},
		{"1..2.3", ""},
		{"", ""},
		{"[]", ""},
	} {
		a, err := parseIP(tc.in)
		got := ""
		if err == nil {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("parseIP(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in, want string
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"192.0.2.10", "192.0.2.10/32"},
		{" ::1 ", "::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"10.0.0.1/8", ""},
		{"10.0.0.0/33", ""},
		{"x", ""},
	} {
		p, err := parsePrefix(tc.in)
		got := ""
		if err == nil {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("parsePrefix(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseIP: the address parsers of pike_check_ip, pike.rm and allow
// never panic and accept only what netip accepts.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "[::1]", "10.0.0.0/8", "1.2.3.999", "fe80::1%eth0", "[", "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := parseIP(s); err == nil {
			if _, err := netip.ParseAddr(a.String()); err != nil {
				t.Fatalf("%q parsed to %v which does not print back", s, a)
			}
		}
		if p, err := parsePrefix(s); err == nil && !p.IsValid() {
			t.Fatalf("%q gave an invalid prefix", s)
		}
	})
}
