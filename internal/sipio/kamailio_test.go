package sipio

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// startKamailio runs the real Kamailio with a config that answers every
// request with sl_send_reply(<R-URI user>, "Reason <R-URI user>"), appending
// X-A: b to the reply when the From user is "hdr" and calling force_rport()
// when it is "fr". It returns the UDP address it listens on.
func startKamailio(t *testing.T) netip.AddrPort {
	t.Helper()
	mpath := kamailio.ModuleDir(t, "sl", "pv", "textops")
	port := freePort(t, loopback)
	cfg := fmt.Sprintf(`debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:%d
mpath="%s/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
request_route {
	if ($fU == "fr") { force_rport(); }
	if ($fU == "hdr") { append_to_reply("X-A: b\r\n"); }
	$var(code) = $(rU{s.int});
	sl_send_reply("$var(code)", "Reason $rU");
}
`, port, mpath)
	addr := netip.AddrPortFrom(loopback, port)
	c := newUDPClient(t)
	answers := func(*kamailio.Process) bool {
		c.send(t, addr, options("z9hG4bK-ready", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-ready", c.port())))
		return c.recv(t, 100*time.Millisecond) != ""
	}
	kamailio.Start(t, kamailio.Options{Config: cfg, Ready: answers, Timeout: 5 * time.Second})
	return addr
}

var (
	tagRE    = regexp.MustCompile(`;tag=[0-9a-f]{32}\.[0-9a-f]{8}`)
	serverRE = regexp.MustCompile(`(?m)^Server: .*\r\n`)
)

// TestRepliesMatchKamailio sends the same requests, from the same source
// socket, to the real Kamailio 5.6 and to our server, and compares the
// stateless replies byte for byte, except the To-tag value (per-server
// secret) and the Server header value.
func TestRepliesMatchKamailio(t *testing.T) {
	kam := startKamailio(t)
	var r srvRef
	_, ours := startServer(t, Config{ServerHeader: "kamailio (5.6.3 (x86_64/linux))", Handler: func(m *Msg) {
		code := 0
		fmt.Sscan(m.Req.Recipient.User, &code)
		var o ReplyOptions
		from := m.Req.From()
		if from != nil && from.Address.User == "fr" {
			m.ForceRport = true
		}
		if from != nil && from.Address.User == "hdr" {
			o.Headers = []Field{{"X-A", "b"}}
		}
		r.get().Respond(m, code, "Reason "+m.Req.Recipient.User, &o)
	}}, &r)

	type req struct {
		name, code, via, from, to, extra string
		srcIP                            string
	}
	cases := []req{
		{name: "plain 404", code: "404", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-1"},
		{name: "rport", code: "200", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-2;rport"},
		{name: "other source ip", code: "486", via: "SIP/2.0/UDP 127.0.0.2:PORT;branch=z9hG4bK-3;rport", srcIP: "127.0.0.2"},
		{name: "other ip no rport", code: "403", via: "SIP/2.0/UDP 127.0.0.2:PORT;branch=z9hG4bK-4", srcIP: "127.0.0.2"},
		{name: "host name", code: "480", via: "SIP/2.0/UDP localhost:PORT;branch=z9hG4bK-5;rport=;x=1"},
		{name: "force_rport", code: "200", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-6", from: "<sip:fr@b>;tag=ft1"},
		{name: "append_to_reply", code: "401", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-7;rport", from: "<sip:hdr@b>;tag=ft1"},
		{name: "existing To-tag", code: "200", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-8", to: "<sip:x@127.0.0.1>;tag=existing"},
		{name: "tag only in URI and display name", code: "200", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-9", to: `"a;tag=b" <sip:x@127.0.0.1;tag=inuri>`},
		{name: "100 gets no tag", code: "100", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-10"},
		{name: "180 and Record-Route", code: "180", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-11", extra: "Record-Route: <sip:10.0.0.1;lr>\r\n"},
		{name: "404 drops Record-Route", code: "404", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-12", extra: "Record-Route: <sip:10.0.0.1;lr>\r\n"},
		{name: "two Via headers", code: "200", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-13;rport\r\nVia: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK-x;received=10.0.0.9"},
		{name: "compact names", code: "200", via: "SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-14", extra: "COMPACT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ip := "127.0.0.1"
			if tc.srcIP != "" {
				ip = tc.srcIP
			}
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			port := c.LocalAddr().(*net.UDPAddr).Port
			from, to := tc.from, tc.to
			if from == "" {
				from = "<sip:a@b>;tag=ft1"
			}
			if to == "" {
				to = "<sip:x@127.0.0.1>"
			}
			via := strings.ReplaceAll(tc.via, "PORT", fmt.Sprint(port))
			names := [5]string{"Via", "From", "To", "Call-ID", "CSeq"}
			extra := tc.extra
			if extra == "COMPACT" {
				names = [5]string{"v", "f", "t", "i", "CSeq"}
				extra = ""
			}
			msg := fmt.Sprintf("OPTIONS sip:%s@127.0.0.1 SIP/2.0\r\n%s: %s\r\n%s%s: %s\r\n%s: %s\r\n%s: c-%s@x\r\n%s: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
				tc.code, names[0], via, extra, names[1], from, names[2], to, names[3], strings.ReplaceAll(tc.name, " ", "-"), names[4])
			get := func(dst netip.AddrPort) string {
				c.WriteToUDPAddrPort([]byte(msg), dst)
				buf := make([]byte, 65536)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("no reply from %s: %v", dst, err)
				}
				return string(buf[:n])
			}
			k, o := get(kam), get(ours)
			norm := func(s string) string {
				s = tagRE.ReplaceAllString(s, ";tag=TAG")
				return serverRE.ReplaceAllString(s, "Server: X\r\n")
			}
			if norm(k) != norm(o) {
				t.Fatalf("replies differ\nkamailio:\n%s\nsipht:\n%s", k, o)
			}
		})
	}
}
