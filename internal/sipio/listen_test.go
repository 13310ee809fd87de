package sipio

import (
	"context"
	"strings"
	"testing"
)

func TestParseListen(t *testing.T) {
	// Expected results follow `kamailio -c` (5.6.3) on the same listen= values,
	// except where noted.
	cases := []struct {
		in   string
		want []string // ListenSpec.String() of each result
		adv  string   // "host:port" of advertise, if any
		name string
		err  string // substring of the error
	}{
		{in: "127.0.0.1", want: []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}},
		{in: "udp:127.0.0.1:5060", want: []string{"udp:127.0.0.1:5060"}},
		{in: "UDP:127.0.0.1:15999", want: []string{"udp:127.0.0.1:15999"}},
		{in: "tcp:0.0.0.0:5060", want: []string{"tcp:0.0.0.0:5060"}},
		{in: "tcp:127.0.0.1", want: []string{"tcp:127.0.0.1:5060"}},
		{in: "127.0.0.1:15998", want: []string{"udp:127.0.0.1:15998", "tcp:127.0.0.1:15998"}},
		{in: "udp:[::1]:5060", want: []string{"udp:[::1]:5060"}},
		{in: "[::1]", want: []string{"udp:[::1]:5060", "tcp:[::1]:5060"}},
		{in: "::1", want: []string{"udp:[::1]:5060", "tcp:[::1]:5060"}},
		{in: "udp:2001:db8::1", want: []string{"udp:[2001:db8::1]:5060"}},
		{in: "udp:localhost:15997", want: []string{"udp:localhost:15997"}},
		{in: "lo", want: []string{"udp:lo:5060", "tcp:lo:5060"}},
		{in: "udp:lo:15999", want: []string{"udp:lo:15999"}},
		{in: "udp:127.0.0.1:0", want: []string{"udp:127.0.0.1:5060"}},
		{in: "tls:127.0.0.1", want: []string{"tls:127.0.0.1:5061"}},
		{in: "sctp:127.0.0.1", want: []string{"sctp:127.0.0.1:5060"}},
		{in: "udp:127.0.0.1:15999 advertise 1.2.3.4:5080", want: []string{"udp:127.0.0.1:15999"}, adv: "1.2.3.4:5080"},
		{in: "udp:127.0.0.1:15999 advertise 1.2.3.4", want: []string{"udp:127.0.0.1:15999"}, adv: "1.2.3.4:0"},
		{in: `tcp:[::1]:15999 advertise [2001:db8::1]:5080 name "x"`, want: []string{"tcp:[::1]:15999"}, adv: "2001:db8::1:5080", name: "x"},
		{in: `udp:127.0.0.1:15999 name "foo"`, want: []string{"udp:127.0.0.1:15999"}, name: "foo"},
		{in: "  udp:127.0.0.1:5060  ", want: []string{"udp:127.0.0.1:5060"}},

		{in: "", err: "empty value"},
		{in: "udp:127.0.0.1:70000", err: "above 65535"}, // Kamailio wraps to 4464
		{in: "udp:127.0.0.1:abc", err: "not a number"},
		{in: "udp:127.0.0.1:", err: "empty port"},
		{in: "udp:127.0.0.1:5060:5061", err: "not an IPv6 address"},
		{in: "udp:1.2.3.4.5:5060", err: "not an IPv4 address"},
		{in: "udp:*:5060", err: "not an address"},
		{in: "ws:127.0.0.1", err: "not a listen protocol"},
		{in: "foo:1.2.3.4", err: "unknown protocol"},
		{in: "udp:[::1", err: "missing ]"},
		{in: "udp:[1.2.3.4]:5060", err: "not an IPv6 address"},
		{in: "udp:[::1]5060", err: "after ]"},
		{in: "udp:127.0.0.1 advertise", err: "advertise needs"},
		{in: "udp:127.0.0.1 bogus", err: "unexpected"},
		{in: `udp:127.0.0.1 name ""`, err: "empty name"},
		{in: "udp:bad/host:5060", err: "not an IP address, host name"},
	}
	for _, tc := range cases {
		got, err := ParseListen(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseListen(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseListen(%q): %v", tc.in, err)
			continue
		}
		var strs []string
		for _, l := range got {
			strs = append(strs, l.String())
			if tc.adv != "" {
				if a := l.AdvertiseHost + ":" + itoa(int(l.AdvertisePort)); a != tc.adv {
					t.Errorf("ParseListen(%q) advertise = %s, want %s", tc.in, a, tc.adv)
				}
			}
			if l.Name != tc.name {
				t.Errorf("ParseListen(%q) name = %q, want %q", tc.in, l.Name, tc.name)
			}
		}
		if strings.Join(strs, " ") != strings.Join(tc.want, " ") {
			t.Errorf("ParseListen(%q) = %v, want %v", tc.in, strs, tc.want)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestResolveListenHost(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ host, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"::1", "::1"},
		{"lo", "127.0.0.1"},
		{"localhost", "127.0.0.1"},
	} {
		got, err := resolveListenHost(ctx, tc.host)
		if err != nil {
			t.Errorf("%s: %v", tc.host, err)
			continue
		}
		if len(got) == 0 || got[0].String() != tc.want {
			t.Errorf("%s resolved to %v, want %s first", tc.host, got, tc.want)
		}
	}
	if _, err := resolveListenHost(ctx, "no-such-host.invalid"); err == nil {
		t.Error("an unresolvable host did not fail")
	}
}

func TestNewServerRejectsUnsupported(t *testing.T) {
	specs, _ := ParseListen("tls:127.0.0.1")
	_, err := NewServer(Config{Listen: specs, Handler: func(*Msg) {}})
	if err == nil || !strings.Contains(err.Error(), "tls is not supported") {
		t.Fatalf("tls listen: %v", err)
	}
	if _, err := NewServer(Config{Handler: func(*Msg) {}}); err == nil {
		t.Fatal("no listen accepted")
	}
	if _, err := NewServer(Config{Listen: []ListenSpec{{Transport: UDP, Host: "127.0.0.1"}}}); err == nil {
		t.Fatal("missing handler accepted")
	}
}

func TestListenersAndIsLocal(t *testing.T) {
	var r srvRef
	s, addr := startServer(t, Config{Handler: okHandler(&r)}, &r)
	ls := s.Listeners()
	if len(ls) != 2 || ls[0].Transport != UDP || ls[1].Transport != TCP || ls[0].Addr != addr || ls[1].Addr != addr {
		t.Fatalf("listeners: %+v", ls)
	}
	if !s.IsLocal(loopback, addr.Port(), UDP) || !s.IsLocal(loopback, 0, 0) {
		t.Fatal("own address not local")
	}
	if s.IsLocal(loopback, addr.Port()+1, 0) {
		t.Fatal("other port is local")
	}
}
