package pv_test

import (
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/sipio"
	_ "github.com/sipht/sipht/modules/all"
)

// readAll reads every message pseudo-variable (and a few transformations
// and rewrites) of the message: none may panic, whatever the message.
const readAll = `
loadmodule "pv.so"
loadmodule "xlog.so"
request_route {
	xlog("L_DBG", "$si $sp $Ri $Rp $pr $rm $ru $rU $rd $rp $rP $rz $rUl $ou $oU $od $op $rv\n");
	xlog("L_DBG", "$fu $fU $fd $fn $ft $fUl $tu $tU $td $tn $tt $ci $cs $csb $ua $ct $cT $cl $rb $bs $ml $mt $mts\n");
	xlog("L_DBG", "$au $ar $ad $aU $adu $aa $adn $adc $adr $ado $ai $di $re $rt $rs $rr $du $dd $dp $dP\n");
	xlog("L_DBG", "$hdr(Via) $(hdr(Via)[1]) $(hdr(Via)[-1]) $(hdr(Via)[*]) $hdrc(Via) $hdr(f) $hdr(X-A)\n");
	xlog("L_DBG", "$(fu{uri.user}) $(hdr(From){tobody.tag}) $(hdr(To){nameaddr.uri}) $(ru{uri.param,transport})\n");
	$rU = "x"; $rd = "h"; $rp = 5070; $du = "sip:a@b";
	xlog("L_DBG", "$ru $du\n");
}
`

var (
	fuzzOnce sync.Once
	fuzzProg *script.Program
	fuzzErr  error
)

func FuzzMessagePVs(f *testing.F) {
	for _, s := range []string{
		"OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-1\r\nFrom: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:test@127.0.0.1>\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		"INVITE tel:+1;x SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: \"A\" <sip:a@b>;tag=x\r\nt: b\r\ni: c\r\nCSeq: 2 INVITE\r\nAuthorization: Digest username=\"u@d\", realm=r\r\nl: 3\r\n\r\nabc",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sips:[::1]:5061;transport=tls SIP/2.0\r\nVia: x\r\nFrom: x\r\nTo: <>\r\nCall-ID: x\r\nCSeq: x\r\nProxy-Authorization: Digest\r\n\r\n",
	} {
		f.Add(s)
	}
	def := sip.DefaultHeadersParser()
	parser := sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
		"content-length": def["content-length"], "l": def["l"]}))
	f.Fuzz(func(t *testing.T, raw string) {
		fuzzOnce.Do(func() {
			var srv *server.Server
			srv, fuzzErr = server.Load(server.Options{Source: []byte(readAll),
				Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if fuzzErr == nil {
				fuzzProg = srv.Program
			}
		})
		if fuzzErr != nil {
			t.Fatal(fuzzErr)
		}
		msg, err := parser.ParseSIP([]byte(raw))
		if err != nil {
			return
		}
		m := &sipio.Msg{Raw: []byte(raw), Transport: sipio.UDP,
			Source: netip.MustParseAddrPort("127.0.0.1:5070"), Local: netip.MustParseAddrPort("127.0.0.1:5060")}
		switch v := msg.(type) {
		case *sip.Request:
			m.Req = v
		case *sip.Response:
			m.Res = v
		default:
			return
		}
		c := fuzzProg.NewCtx()
		c.Reset(m)
		fuzzProg.RequestRoute().Run(c)
	})
}
