package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// testReply is a minimal module with a reply function, standing in for sl.
type testReply struct {
	host  *module.Host
	debug int64
	seen  []string
	mu    sync.Mutex
}

func (m *testReply) Params() []module.Param {
	return []module.Param{{Name: "level", Kind: module.ParamInt, Set: func(v module.Value) error { m.debug = v.Int; return nil }}}
}

func (m *testReply) Init(h *module.Host) error {
	m.host = h
	return h.Script.AddFunc(script.Func{Name: "test_reply", MinArgs: 2, MaxArgs: 2, Module: "test_reply",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			code, ok := fc.Arg(0).ConstInt()
			if !ok {
				return nil, fc.Errorf("code must be a constant")
			}
			reason, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				m.mu.Lock()
				m.seen = append(m.seen, c.Msg.Req.Method.String())
				m.mu.Unlock()
				if err := h.SIP.Respond(c.Msg, int(code), reason.String(c), nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}})
}

var registerOnce sync.Once

func TestLoadAndServe(t *testing.T) {
	registerOnce.Do(func() {
		module.Register(module.Info{Name: "test_reply", New: func() module.Module { return &testReply{} }})
	})
	src := `#!KAMAILIO
listen=udp:127.0.0.1:0
children=2
loadmodule "test_reply.so"
modparam("test_reply", "level", "3")
request_route {
	if ($var(x) == 0) { $var(x) = 1; }
	test_reply("200", "OK from test");
}
`
	var logs bytes.Buffer
	srv, err := Load(Options{Source: []byte(src), SourceName: "t.cfg",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mod, _ := srv.Module("test_reply")
	if mod.(*testReply).debug != 3 {
		t.Fatalf("modparam string \"3\" not coerced to int 3")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	var addr string
	for _, l := range srv.SIP().Listeners() {
		if l.Transport == sipio.UDP {
			addr = l.Addr.String()
		}
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	req := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-1;rport\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 OK from test\r\n") {
		t.Fatalf("reply = %q", buf[:n])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	src := `listen=udp:127.0.0.1:0
no_such_param=1
loadmodule "nosuch.so"
modparam("nosuch", "x", 1)
modparam("other", "x", 1)
request_route { nosuch_func(); }
`
	_, err := Load(Options{Source: []byte(src), SourceName: "bad.cfg", Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"bad.cfg:2:1", "no_such_param",
		"bad.cfg:3:1", `sipht has no module "nosuch"`,
		"bad.cfg:5:1", `module "other" is not loaded`,
		"bad.cfg:6:", "nosuch_func",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "bad.cfg:4:") {
		t.Errorf("modparam of a missing module reported twice:\n%s", msg)
	}
}
