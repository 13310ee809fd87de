package registrar

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseContacts(t *testing.T) {
	cases := []struct {
		in   string
		star bool
		want []Contact
		err  bool
	}{
		{in: "*", star: true},
		{in: "  * ", star: true},
		{in: "<sip:a@b>", want: []Contact{{URI: "sip:a@b"}}},
		{in: `"Al, ice" <sip:a@b;transport=udp>;q=0.5;expires=60, sip:c@d;expires=0`,
			want: []Contact{
				{URI: "sip:a@b;transport=udp", Params: []ContactParam{{"q", "0.5", true}, {"expires", "60", true}}},
				{URI: "sip:c@d", Params: []ContactParam{{"expires", "0", true}}},
			}},
		{in: `Bob <sip:b@c> ; +sip.instance="<urn:uuid:1;2,3>" ;reg-id=1;ob`,
			want: []Contact{{URI: "sip:b@c", Params: []ContactParam{{"+sip.instance", "<urn:uuid:1;2,3>", true}, {"reg-id", "1", true}, {"ob", "", false}}}}},
		{in: `<sip:x@y>;received='sip:1.2.3.4:5'`, want: []Contact{{URI: "sip:x@y", Params: []ContactParam{{"received", "sip:1.2.3.4:5", true}}}}},
		{in: "<sip:x@y", err: true},
		{in: "", err: true},
		{in: "* , <sip:a@b>", err: true},
		{in: "<sip:a@b>,", err: true},
		{in: "<sip:a@b> junk", err: true},
		{in: `"unterminated <sip:a@b>`, err: true},
		{in: "<sip:a@b>;=x", err: true},
		{in: "<sip:a@b>;q=", err: true},
		{in: "<>", err: true},
	}
	for _, tc := range cases {
		got, star, err := ParseContacts(tc.in, nil)
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if tc.err {
			continue
		}
		if star != tc.star || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v star=%v\nwant %+v star=%v", tc.in, got, star, tc.want, tc.star)
		}
	}
}

func FuzzParseContacts(f *testing.F) {
	for _, s := range []string{"*", `"A" <sip:a@b>;q=0.5, sip:c@d;expires=0`, `<sip:x@y>;+sip.instance="<urn:x>"`,
		"<sip:a@b", `'x' <sip:a>;p='q,r'`, "sip:a@b;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, star, err := ParseContacts(s, nil)
		if err != nil {
			if len(cs) != 0 {
				t.Fatal("contacts returned with an error")
			}
			return
		}
		if star && len(cs) != 0 {
			t.Fatal("star with contacts")
		}
		for _, c := range cs {
			if c.URI == "" || !strings.Contains(s, c.URI) {
				t.Fatalf("bad URI %q", c.URI)
			}
			for _, p := range c.Params {
				if p.Name == "" || !strings.Contains(s, p.Name) || !strings.Contains(s, p.Value) {
					t.Fatalf("bad param %+v", p)
				}
			}
		}
	})
}

func TestQValues(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "1": 1000, "1.0": 1000, "1.000": 1000, "0.5": 500, ".5": 500,
		"0.123": 123, "0.1239": 123, " 0.25": 250, "00.7": 700, "0.": -1, "1.": -1, "2": -1, "1.1": -1, "": -1, "x": -1, "-0.5": -1} {
		got, ok := ParseQ(in)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("ParseQ(%q) = %d, want %d", in, got, want)
		}
	}
	for q, want := range map[int]string{1000: "1", 0: "0", 500: "0.5", 250: "0.25", 123: "0.123", 10: "0.01", 1: "0.001"} {
		if got := string(FormatQ(nil, q)); got != want {
			t.Errorf("FormatQ(%d) = %q, want %q", q, got, want)
		}
	}
}

func TestParseMethods(t *testing.T) {
	for in, want := range map[string]uint32{"INVITE": 1, "invite, MESSAGE": 257, "": 0, "FOO": methodOther, "INVITE,": 1} {
		got, ok := ParseMethods(in)
		if !ok || got != want {
			t.Errorf("ParseMethods(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"INVITE MESSAGE", ",INVITE", "IN VITE"} {
		if _, ok := ParseMethods(in); ok {
			t.Errorf("ParseMethods(%q) accepted", in)
		}
	}
}
