package sanity

import (
	"io"
	"log/slog"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

func FuzzParseCreds(f *testing.F) {
	for _, s := range []string{`Digest username="a", realm="r", nonce="n", uri="sip:x", response="0123"`,
		`Digest username=a,realm=r`, `Basic YTpi`, `Digest`, `Digest a="b\"c", qop=auth`, `digest x=`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parseCreds(s)
		validUint(s)
		parseStrList(s)
	})
}

// FuzzCheck runs every check on arbitrary messages that sipgo parses (the
// messages the transport would hand to the script).
func FuzzCheck(f *testing.F) {
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: a;tag=1;tag=2\r\nt: b\r\ni: x\r\nCSeq: 99999999999 INVITE\r\nExpires: x\r\nProxy-Require: a,b\r\nAuthorization: Digest username=\"\"\r\nm: *\r\nl: 3\r\n\r\nab"))
	reg := script.NewRegistry()
	m := &Module{msgChecks: DefaultChecks, uriChecks: DefaultURIChecks, autodrop: 1}
	h := &module.Host{Name: "sanity", Script: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Init(h); err != nil {
		f.Fatal(err)
	}
	file, err := cfg.Parse("f.cfg", []byte("request_route { sanity_check(); }\n"), cfg.Options{})
	if err != nil {
		f.Fatal(err)
	}
	prog, err := script.Compile(file, reg, script.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	c := prog.NewCtx()
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := sip.ParseMessage(raw)
		if err != nil {
			return
		}
		sm := &sipio.Msg{Raw: raw, Transport: sipio.UDP}
		switch v := msg.(type) {
		case *sip.Request:
			sm.Req = v
		case *sip.Response:
			sm.Res = v
		}
		for _, noreply := range []int64{0, 1} {
			m.noreply = noreply
			c.Reset(sm)
			m.check(c, maxChecks-1, maxURIChecks-1)
		}
	})
}
