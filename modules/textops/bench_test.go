package textops_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
	_ "github.com/sipht/sipht/modules/sanity"
)

// lazyParser is sipgo's parser as sipio uses it (headers left unparsed).
func lazyParser() *sip.Parser {
	def := sip.DefaultHeadersParser()
	return sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
		"content-length": def["content-length"], "l": def["l"],
	}))
}

const benchReq = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b1\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: bench-1@10.0.0.1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Max-Forwards: 70\r\n" +
	"Contact: <sip:alice@10.0.0.1:5060>\r\n" +
	"User-Agent: bench\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\nv=0\n"

// run compiles routes with the modules and returns a function running the
// request route on a fresh copy of benchReq.
func benchRunner(b *testing.B, routes string) (func() *script.Ctx, *sipmsg.Msgs) {
	srv, err := modtest.LoadServer([]string{"textops", "maxfwd", "siputils", "sanity"}, "", routes)
	if err != nil {
		b.Fatal(err)
	}
	msgs := sipmsg.For(srv.Script)
	c := srv.Program.NewCtx()
	raw := []byte(benchReq)
	p := lazyParser()
	return func() *script.Ctx {
		m, err := p.ParseSIP(raw)
		if err != nil {
			b.Fatal(err)
		}
		c.Reset(&sipio.Msg{Req: m.(*sip.Request), Raw: append(raw[:0:0], raw...), Transport: sipio.UDP})
		srv.Program.RequestRoute().Run(c)
		return c
	}, msgs
}

// BenchmarkTypicalPrelude runs the checks a registrar/proxy config starts
// with (Debian's kamailio.cfg REQINIT and WITHINDLG routes); the parse of
// the message by sipgo is measured alone beside it.
func BenchmarkTypicalPrelude(b *testing.B) {
	b.Run("sipgo-parse-only", func(b *testing.B) {
		raw := []byte(benchReq)
		p := lazyParser()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := p.ParseSIP(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+prelude", func(b *testing.B) {
		run, _ := benchRunner(b, `request_route {
	if (!mf_process_maxfwd_header("10")) { exit; }
	if (!sanity_check("17895", "7")) { exit; }
	if (is_method("OPTIONS") && uri_param("x")) { exit; }
	if (has_totag()) { exit; }
	if (is_method("CANCEL|ACK")) { exit; }
	if (!is_method("REGISTER|INVITE|SUBSCRIBE")) { exit; }
	if (is_present_hf("Record-Route")) { exit; }
	if (search("^User-Agent: friendly-scanner")) { exit; }
}`)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			run()
		}
	})
}

// BenchmarkEdits measures the forward path with edits: recording them,
// applying them (Apply) and applying plus reparsing (Materialize), beside a
// run without edits.
func BenchmarkEdits(b *testing.B) {
	routes := `request_route {
	append_hf("X-A: 1\r\n");
	remove_hf("User-Agent");
	mf_process_maxfwd_header("10");
}`
	noEdits := `request_route { has_totag(); }`
	for _, bc := range []struct {
		name, routes string
		apply        int // 0 none, 1 Apply, 2 Materialize
	}{
		{"no-edits", noEdits, 0}, {"record", routes, 0}, {"record+apply", routes, 1}, {"record+materialize", routes, 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			run, msgs := benchRunner(b, bc.routes)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c := run()
				switch bc.apply {
				case 1:
					if _, err := msgs.Apply(c, false); err != nil {
						b.Fatal(err)
					}
				case 2:
					if _, err := msgs.Materialize(c); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
