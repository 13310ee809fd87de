// Package scripttest runs routing-script snippets the way the differential
// test suite needs: a whole config (or a route body) against one
// synthetic OPTIONS request, returning the lines xlog printed.
//
// TEST DOUBLES: xlog, $sht/$shtinc/$shtdec/$shtex/$shtcn/$shtcv,
// sl_send_reply and the SIP pseudo-variables ($si, $rm, $ru, $rU, $rd) and
// core keywords are simple stand-ins defined here, shaped like the real
// modules (same names, arguments, return codes and value types). They will
// be replaced by the real modules (modules/xlog, modules/htable, modules/sl,
// modules/pv) when those exist; nothing outside tests may use this package.
package scripttest

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// The synthetic request every run processes.
const (
	SourceIP   = "127.0.0.1"
	Method     = "OPTIONS"
	RequestURI = "sip:test@127.0.0.1"
)

// SyntheticRequest is the OPTIONS request Run processes.
const SyntheticRequest = "OPTIONS sip:test@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-sipht-1\r\n" +
	"From: <sip:tester@127.0.0.1>;tag=1\r\n" +
	"To: <sip:test@127.0.0.1>\r\n" +
	"Call-ID: sipht-scripttest-1\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Max-Forwards: 70\r\n" +
	"Content-Length: 0\r\n\r\n"

// Reply is one reply sl_send_reply sent.
type Reply struct {
	Code   int
	Reason string
}

// Env is a registry filled with the test doubles, and what they recorded.
type Env struct {
	Reg    *script.Registry
	Tables *Tables
	// Debug is the log level xlog compares against (Kamailio's debug=;
	// L_ERR=-1, L_WARN=0, L_NOTICE=1, L_INFO=2, L_DBG=3).
	Debug int
	// Replies lists the replies sent by sl_send_reply.
	Replies []Reply

	out strings.Builder
	w   io.Writer // when set, xlog writes here instead of collecting
}

// NewEnv returns an Env whose registry has the core built-ins and the test
// doubles.
func NewEnv() *Env {
	e := &Env{Reg: script.NewRegistry(), Tables: NewTables()}
	e.register()
	return e
}

// SetOutput makes xlog write its lines to w instead of collecting them
// (benchmarks pass io.Discard).
func (e *Env) SetOutput(w io.Writer) { e.w = w }

// Lines returns the xlog output collected so far, split into lines.
func (e *Env) Lines() []string {
	s := e.out.String()
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// ConfigureTables reads the modparam("htable", "htable", "...") lines of a
// parsed config.
func (e *Env) ConfigureTables(f *cfg.File) error {
	for _, it := range f.Items {
		mp, ok := it.(*cfg.ModParam)
		if !ok || mp.Module != "htable" || mp.Param != "htable" {
			continue
		}
		if err := e.Tables.Define(mp.Str); err != nil {
			return fmt.Errorf("%s: %w", mp.Pos, err)
		}
	}
	return nil
}

// NewMsg parses SyntheticRequest into the message the script sees.
func NewMsg() (*sipio.Msg, error) {
	m, err := sip.ParseMessage([]byte(SyntheticRequest))
	if err != nil {
		return nil, err
	}
	req, ok := m.(*sip.Request)
	if !ok {
		return nil, fmt.Errorf("synthetic request parsed as %T", m)
	}
	return &sipio.Msg{Req: req, Transport: sipio.UDP, Raw: []byte(SyntheticRequest)}, nil
}

// Run parses and compiles a whole config with the test doubles and runs
// its request_route once against the synthetic OPTIONS request. It returns
// the lines xlog printed (without any log prefix).
func Run(config string) ([]string, error) {
	e := NewEnv()
	return e.Run(config)
}

// Run is like the package-level Run on an existing Env.
func (e *Env) Run(config string) ([]string, error) {
	p, err := e.Load(config)
	if err != nil {
		return nil, err
	}
	if err := e.RunOnce(p); err != nil {
		return nil, err
	}
	return e.Lines(), nil
}

// Load parses and compiles a config against the Env's registry and
// defines its htables.
func (e *Env) Load(config string) (*script.Program, error) {
	f, err := cfg.Parse("snippet.cfg", []byte(config), cfg.Options{})
	if err != nil {
		return nil, err
	}
	if err := e.ConfigureTables(f); err != nil {
		return nil, err
	}
	for _, it := range f.Items {
		if cp, ok := it.(*cfg.CoreParam); ok && cp.Name == "debug" && cp.Value.Kind == cfg.ValInt {
			e.Debug = int(cp.Value.Int)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return script.Compile(f, e.Reg, script.Options{Logger: log})
}

// RunOnce runs the program's request_route on the synthetic request.
func (e *Env) RunOnce(p *script.Program) error {
	r := p.RequestRoute()
	if r == nil {
		return fmt.Errorf("the config has no request_route")
	}
	msg, err := NewMsg()
	if err != nil {
		return err
	}
	c := p.NewCtx()
	c.Reset(msg)
	r.Run(c)
	return nil
}

// SnippetConfig builds the full config RunSnippet runs: the htable
// definitions, and a request_route that calls the body (in route[BODY])
// once. The Kamailio side of the differential suite must wrap snippets the
// same way.
func SnippetConfig(body string, tables []string) string {
	var b strings.Builder
	b.WriteString("#!KAMAILIO\ndebug=2\nlog_stderror=yes\n")
	b.WriteString("loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"htable.so\"\n")
	for _, t := range tables {
		fmt.Fprintf(&b, "modparam(\"htable\", \"htable\", %q)\n", t)
	}
	b.WriteString("request_route {\n\troute(BODY);\n}\nroute[BODY] {\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.String()
}

// RunSnippet runs a route body (statements only) with the given htable
// definitions ("name=>size=4;initval=0"), wrapped by SnippetConfig, and
// returns the xlog lines.
func RunSnippet(body string, tables []string) ([]string, error) {
	return Run(SnippetConfig(body, tables))
}
