package server_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
)

// filterMod installs pre-parse filters: it drops 127.0.0.7, panics on
// 127.0.0.8, and replies 200 to what passes.
type filterMod struct {
	seen     atomic.Int64
	startErr error
}

func (m *filterMod) Params() []module.Param { return nil }

func (m *filterMod) Init(h *module.Host) error {
	if err := h.AddFilter(func(src netip.AddrPort, tp sipio.Transport) bool {
		m.seen.Add(1)
		if src.Addr() == netip.MustParseAddr("127.0.0.8") {
			panic("filter bug")
		}
		return src.Addr() != netip.MustParseAddr("127.0.0.7")
	}); err != nil {
		return err
	}
	// a second filter runs after the first
	if err := h.AddFilter(func(src netip.AddrPort, tp sipio.Transport) bool {
		return src.Addr() != netip.MustParseAddr("127.0.0.6")
	}); err != nil {
		return err
	}
	return h.Script.AddFunc(script.Func{Name: "filter_test_ok", Module: "filter_test",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				h.SIP.Respond(c.Msg, 200, "OK", nil)
				return 1
			}, nil
		}})
}

func (m *filterMod) Start(ctx context.Context, h *module.Host) error {
	m.startErr = h.AddFilter(func(netip.AddrPort, sipio.Transport) bool { return false })
	return nil
}

var registerFilterMod sync.Once

func TestModuleFilters(t *testing.T) {
	registerFilterMod.Do(func() {
		module.Register(module.Info{Name: "filter_test", New: func() module.Module { return &filterMod{} }})
	})
	// (listen=udp:127.0.0.1:0 in a config means port 5060, as in
	// Kamailio; ListenOverride takes a free port)
	r := servertest.Start(t, "loadmodule \"filter_test.so\"\nrequest_route { filter_test_ok(); }\n",
		func(o *server.Options) {
			o.ListenOverride = []sipio.ListenSpec{{Transport: sipio.UDP, Host: "127.0.0.1"}}
		})
	mod, _ := r.Srv.Module("filter_test")
	fm := mod.(*filterMod)
	if fm.startErr == nil || !strings.Contains(fm.startErr.Error(), "only be added during Init") {
		t.Fatalf("AddFilter in Start: %v", fm.startErr)
	}
	ask := func(src string) string {
		c := servertest.DialFrom(t, src+":0", r.UDP)
		c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
		return c.Read(t, 300*time.Millisecond)
	}
	for _, tc := range []struct {
		src  string
		pass bool
	}{
		{"127.0.0.5", true},
		{"127.0.0.6", false}, // second filter
		{"127.0.0.7", false}, // first filter
		{"127.0.0.8", true},  // first filter panics: passes
		{"127.0.0.8", true},
	} {
		got := ask(tc.src)
		if pass := strings.HasPrefix(got, "SIP/2.0 200"); pass != tc.pass {
			t.Errorf("from %s: reply %q, want pass=%v", tc.src, got, tc.pass)
		}
	}
	if d := r.Srv.SIP().Stats().Dropped[sipio.DropFiltered]; d != 2 {
		t.Errorf("filtered drops %d, want 2", d)
	}
	if n := strings.Count(r.Logs.String(), "pre-parse filter panicked"); n != 2 {
		t.Errorf("panic logged %d times, want 2 (1st and 2nd):\n%s", n, r.Logs.String())
	}
	if fm.seen.Load() != 5 {
		t.Errorf("filter saw %d messages, want 5", fm.seen.Load())
	}
}
