package auth_db_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/modules/auth"
	_ "github.com/sipht/sipht/modules/registrar"
	_ "github.com/sipht/sipht/modules/usrloc"
)

// The benchmarks run the seed's REGISTER handling through the compiled
// script and the modules, without the network in front: a REGISTER is
// parsed once, and each iteration resets the script context and runs the
// request route on it (auth_check against the subscriber table, then
// save() and its 200 OK, or auth_challenge() and its 401). Replies are
// really sent, over loopback UDP, to a socket that discards them (the
// sendto is part of the reply path).
//
//	go test -run '^$' -bench BenchmarkRegister -benchmem ./modules/auth_db/

const benchRoute = `
request_route {
	if (!auth_check("example.com", "subscriber", "1")) {
		auth_challenge("example.com", "0");
		exit;
	}
	save("location");
}
`

const benchPVRoute = `
request_route {
	if (!pv_www_authenticate("example.com", "secret", "0")) {
		auth_challenge("example.com", "0");
		exit;
	}
	save("location");
}
`

func benchConfig(dbURL, route string) string {
	return `#!KAMAILIO
listen=udp:127.0.0.1:0
children=1
loadmodule "auth"
loadmodule "auth_db"
loadmodule "usrloc"
loadmodule "registrar"
modparam("auth_db", "db_url", "` + dbURL + `")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
` + route
}

func lazyParser() *sip.Parser {
	def := sip.DefaultHeadersParser()
	return sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
		"content-length": def["content-length"], "l": def["l"],
	}))
}

// sink returns a UDP address whose socket reads and drops everything.
func sink(b *testing.B) netip.AddrPort {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := c.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func benchRegister(b *testing.B, dbURL, route string, withCreds bool) {
	r := servertest.Start(b, benchConfig(dbURL, route))
	am, _ := r.Srv.Module("auth")
	nonce := am.(*auth.Module).Nonces.New(nil)
	src := sink(b)
	local := netip.MustParseAddrPort(r.UDP)
	hdrs := []string{"Contact: <sip:alice@127.0.0.2:5555>", "User-Agent: bench"}
	if withCreds {
		hdrs = append(hdrs, "Authorization: "+credentials(b, digestOpts{user: "alice", pass: "secret", realm: realm, nonce: nonce,
			method: "REGISTER", uri: "sip:" + realm}))
	}
	raw := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bench;rport\r\n"+
		"From: <sip:alice@%s>;tag=f1\r\nTo: <sip:alice@%s>\r\nCall-ID: bench@test\r\nCSeq: 1 REGISTER\r\n"+
		"Max-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n", realm, src, realm, realm, headers(hdrs))
	parsed, err := lazyParser().ParseSIP([]byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	msg := &sipio.Msg{Req: parsed.(*sip.Request), Source: src, Local: local, Transport: sipio.UDP, Raw: []byte(raw), Received: time.Now()}
	prog := r.Srv.Program
	c := prog.NewCtx()
	cseq := msg.Req.CSeq()
	want := 401
	if withCreds {
		want = 200
	}
	// one run outside the timer, checking the outcome through the
	// reply counters
	run := func() int {
		cseq.SeqNo++
		c.Reset(msg)
		prog.Run(script.RequestRoute, "", c)
		return c.RC()
	}
	run()
	if st := r.Srv.SIP().Stats(); st.RepliesOut[want] != 1 {
		b.Fatalf("first run: replies %v, want one %d", st.RepliesOut, want)
	}
	before := r.Srv.SIP().Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.StopTimer()
	after := r.Srv.SIP().Stats()
	if sent := after.RepliesOut[want] - before.RepliesOut[want]; sent != uint64(b.N) {
		b.Fatalf("%d %d replies sent for %d requests", sent, want, b.N)
	}
}

func BenchmarkRegister(b *testing.B) {
	sq := dbtest.SQLite(b)
	seedUsers(b, sq.DB)
	b.Run("challenge-401/sqlite", func(b *testing.B) { benchRegister(b, sq.URL, benchRoute, false) })
	b.Run("digest-200/sqlite", func(b *testing.B) { benchRegister(b, sq.URL, benchRoute, true) })
	b.Run("digest-200/pv_www_authenticate-no-db", func(b *testing.B) { benchRegister(b, sq.URL, benchPVRoute, true) })
	for _, mk := range []func(testing.TB) *dbtest.Backend{dbtest.MySQL, dbtest.Postgres} {
		be := mk(b)
		seedUsers(b, be.DB)
		b.Run("digest-200/"+be.Name, func(b *testing.B) { benchRegister(b, be.URL, benchRoute, true) })
	}
}
