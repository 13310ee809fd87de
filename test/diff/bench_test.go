package diff_test

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/script/scripttest"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/tools/diffgen/snippet"
)

// seedRoute is the seed tutorial's first request_route (examples/seed.cfg).
const seedRoute = `
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "htable.so"
modparam("htable", "htable", "MessageCount=>size=12;initval=0")
request_route {
	$sht(MessageCount=>$si) = $sht(MessageCount=>$si) + 1;
	xlog("MessageCount is $sht(MessageCount=>$si)\n");
}
`

// benchMsg parses the differential request the way sipio does (sipgo's
// lazy parser: headers stay raw) and wraps it like a received message.
func benchMsg(b *testing.B) *sipio.Msg {
	b.Helper()
	raw := []byte(snippet.Request())
	def := sip.DefaultHeadersParser()
	p := sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
		"content-length": def["content-length"], "l": def["l"]}))
	m, err := p.ParseSIP(raw)
	if err != nil {
		b.Fatal(err)
	}
	src, _ := netipAddrPort("127.0.0.1:5070")
	loc, _ := netipAddrPort("127.0.0.1:5060")
	return &sipio.Msg{Req: m.(*sip.Request), Raw: raw, Transport: sipio.UDP, Source: src, Local: loc}
}

// loadProgram loads a config with the real modules; xlog writes to
// io.Discard at the given level.
func loadProgram(b *testing.B, cfg string, level slog.Level) *script.Program {
	b.Helper()
	srv, err := server.Load(server.Options{Source: []byte(cfg), SourceName: "bench.cfg",
		Logger: slog.New(logging.NewTextHandler(io.Discard, level))})
	if err != nil {
		b.Fatal(err)
	}
	return srv.Program
}

// BenchmarkSeedRouteRealModules runs the seed's request_route with the real
// pv ($si), htable ($sht) and xlog modules on a parsed message: xlog
// disabled (level below the log level) and enabled (formatted and written
// to io.Discard through sipht's text log handler).
func BenchmarkSeedRouteRealModules(b *testing.B) {
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{{"xlog-disabled", logging.LevelCrit}, {"xlog-enabled", logging.LevelDebug}} {
		b.Run(bc.name, func(b *testing.B) {
			scripttest.RunRequestRoute(b, loadProgram(b, seedRoute, bc.level), benchMsg(b))
		})
	}
}

// BenchmarkMessagePVs reads the common message PVs (the R-URI parts parse
// the R-URI once per message; headers are looked up per read).
func BenchmarkMessagePVs(b *testing.B) {
	p := loadProgram(b, `
loadmodule "pv.so"
request_route {
	$var(a) = $si; $var(b) = $rm; $var(c) = $rU; $var(d) = $rd; $var(e) = $fU; $var(f) = $ci; $var(g) = $hdr(X-Test);
}
`, logging.LevelCrit)
	scripttest.RunRequestRoute(b, p, benchMsg(b))
}

func netipAddrPort(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }
