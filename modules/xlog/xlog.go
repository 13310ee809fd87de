// Package xlog is Kamailio's xlog module for sipht: xlog([facility,]
// [level,] format), xdbg, xinfo, xnotice, xwarn, xerr, xbug, xcrit,
// xalert, xlogl/xdbgl (with the config line), and the $C(xy) colour PV
// (always empty: sipht does not colour logs).
//
// A line goes to the server's logger tagged "<script>", so on stderr it
// reads like Kamailio's: " 0(4242) ERROR: <script>: text". The level is
// compared with the core `debug` level before anything is formatted: a
// disabled xlog costs a level check and allocates nothing. The core
// parameter log_prefix (a format with PVs) is evaluated once per message,
// before the script runs, and printed before "<script>:" as Kamailio does.
package xlog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
)

func init() {
	module.Register(module.Info{
		Name:    "xlog",
		Summary: "xlog(), xinfo() ... : formatted log lines from the script",
		New:     func() module.Module { return &Module{prefix: "<script>: "} },
	})
}

// Module is one loaded xlog module.
type Module struct {
	prefix     string // modparam prefix (default "<script>: ")
	prefixMode int64
	longFormat int64
	forceColor int64

	log      *slog.Logger
	handler  slog.Handler
	logPfx   string         // core log_prefix as configured
	pfxFmt   *script.Format // compiled at the first fixup
	pfxSlot  script.Slot[prefixState]
	pfxTried bool
}

type prefixState struct {
	s string
}

// Params declares xlog's modparams. buf_size, force_color, log_facility,
// log_colors and methods_filter are accepted for compatibility and have no
// effect (no buffer limit, no colours, syslog facility from the core).
func (m *Module) Params() []module.Param {
	ignore := func(module.Value) error { return nil }
	return []module.Param{
		{Name: "prefix", Kind: module.ParamStr, Doc: "text before each message (default \"<script>: \")",
			Set: func(v module.Value) error { m.prefix = v.Str; return nil }},
		{Name: "prefix_mode", Kind: module.ParamInt, Set: func(v module.Value) error { m.prefixMode = v.Int; return nil }},
		{Name: "long_format", Kind: module.ParamInt, Doc: "xlogl prints the config file name too",
			Set: func(v module.Value) error { m.longFormat = v.Int; return nil }},
		{Name: "buf_size", Kind: module.ParamInt, Set: ignore},
		{Name: "force_color", Kind: module.ParamInt, Doc: "$C(xy) gives colours even when not logging to stderr",
			Set: func(v module.Value) error { m.forceColor = v.Int; return nil }},
		{Name: "log_facility", Kind: module.ParamStr, Set: ignore},
		{Name: "log_colors", Kind: module.ParamStr, Multi: true, Set: ignore},
		{Name: "methods_filter", Kind: module.ParamInt, Set: ignore},
	}
}

// Init registers the functions and $C.
func (m *Module) Init(h *module.Host) error {
	log := h.ScriptLog
	if log == nil {
		log = h.Log
	}
	mod := strings.TrimSuffix(strings.TrimSpace(m.prefix), ":")
	if mod != "<script>" {
		log = log.With(logging.ModuleKey, mod)
	}
	m.log = log
	m.handler = log.Handler()
	m.logPfx = h.Core.LogPrefix
	m.pfxSlot = script.NewSlot[prefixState](h.Script, nil, nil)
	r := h.Script
	type named struct {
		name  string
		level int
	}
	fixed := []named{{"xdbg", lDbg}, {"xinfo", lInfo}, {"xnotice", lNotice}, {"xwarn", lWarn},
		{"xerr", lErr}, {"xbug", lBug}, {"xcrit", lCrit2}, {"xalert", lAlert}}
	var errs []error
	add := func(f script.Func) {
		f.Module = "xlog"
		if err := r.AddFunc(f); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range fixed {
		f := f
		add(script.Func{Name: f.name, MinArgs: 1, MaxArgs: 1, Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return m.fixup(fc, f.level, false)
		}})
	}
	add(script.Func{Name: "xdbgl", MinArgs: 1, MaxArgs: 1, Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
		return m.fixup(fc, lDbg, true)
	}})
	add(script.Func{Name: "xlog", MinArgs: 1, MaxArgs: 3, Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
		return m.fixup(fc, lErr, false)
	}})
	add(script.Func{Name: "xlogl", MinArgs: 1, MaxArgs: 3, Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
		return m.fixup(fc, lErr, true)
	}})
	colors := h.Core.LogStderr || m.forceColor != 0
	if err := r.AddPV(script.PVClass{Name: "C", Inner: script.InnerRequired, Module: "xlog",
		Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			seq, ok := termColor(pc.Inner)
			if !ok {
				return nil, pc.Errorf("invalid color name %q (two letters: foreground, background)", pc.Inner)
			}
			v := script.Str("")
			if colors {
				v = script.Str(seq)
			}
			return &script.PV{Get: func(*script.Ctx) script.Value { return v }}, nil
		}}); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("xlog: %v", errs)
	}
	return nil
}

// termColor returns the terminal escape sequence for a $C(fb) name as
// Kamailio's dprint_term_color: an upper-case foreground is bold; letters
// x (default), s (black), r, g, y, b, p, c, w.
func termColor(name string) (string, bool) {
	if len(name) != 2 || !strings.ContainsRune("xsrgybpcwSRGYBPCW", rune(name[0])) || !strings.ContainsRune("xsrgybpcw", rune(name[1])) {
		return "", false
	}
	code := map[byte]string{'x': "9", 's': "0", 'r': "1", 'g': "2", 'y': "3", 'b': "4", 'p': "5", 'c': "6", 'w': "7"}
	f, b := name[0], name[1]
	seq := "\033["
	if f >= 'a' {
		seq += "0;"
	} else {
		seq += "1;"
		f += 32
	}
	return seq + "3" + code[f] + ";4" + code[b] + "m", true
}

// Kamailio's log levels.
const (
	lAlert  = -5
	lBug    = -4
	lCrit2  = -3
	lErr    = -1
	lWarn   = 0
	lNotice = 1
	lInfo   = 2
	lDbg    = 3
)

// levelOf maps a Kamailio level number to a slog level.
func levelOf(n int) slog.Level {
	if n > lDbg {
		return logging.LevelDebug - 4
	}
	return logging.FromKamailio(n)
}

// parseLevel reads a level name as xlog does: only its third character
// counts (L_ALERT, L_BUG, L_CRIT, L_ERR, L_WARN, L_NOTICE, L_INFO, L_DBG).
func parseLevel(s string) (int, bool) {
	if len(s) < 3 {
		return 0, false
	}
	switch s[2] {
	case 'A':
		return lAlert, true
	case 'B':
		return lBug, true
	case 'C':
		return lCrit2, true
	case 'E':
		return lErr, true
	case 'W':
		return lWarn, true
	case 'N':
		return lNotice, true
	case 'I':
		return lInfo, true
	case 'D':
		return lDbg, true
	}
	return 0, false
}

// fixup compiles one call. With 2 arguments the first is the level (a
// name or a PV holding a level number); with 3 the first is the facility
// (accepted, ignored).
func (m *Module) fixup(fc *script.FixupCtx, level int, withLine bool) (script.Handler, error) {
	if err := m.compilePrefix(fc); err != nil {
		return nil, err
	}
	fmtArg := fc.Arg(fc.NArgs() - 1)
	var dynLevel *script.PV
	if fc.NArgs() >= 2 {
		la := fc.Arg(fc.NArgs() - 2)
		s, ok := la.ConstString()
		if !ok {
			return nil, la.Errorf("wrong log level")
		}
		if strings.HasPrefix(s, "$") {
			pv, err := la.PV(false)
			if err != nil {
				return nil, err
			}
			dynLevel = pv
		} else {
			l, ok := parseLevel(s)
			if !ok {
				return nil, la.Errorf("unknown log level %q", s)
			}
			level = l
		}
	}
	if fc.NArgs() == 3 {
		// the facility only matters for syslog, where sipht's logger has
		// one facility; it is checked, as Kamailio does, and ignored
		s, ok := fc.Arg(0).ConstString()
		if _, err := logging.ParseFacility(s); !ok || s == "" || err != nil {
			return nil, fc.Arg(0).Errorf("wrong log facility %q", s)
		}
	}
	f, err := fmtArg.Format()
	if err != nil {
		return nil, err
	}
	var linePrefix string
	if withLine {
		linePrefix = strconv.Itoa(fc.Pos.Line) + ":"
		if m.longFormat == 1 {
			linePrefix = fc.Pos.File + ":" + linePrefix
		}
	}
	h := m.handler
	pfx := m.pfxFmt != nil
	slot := m.pfxSlot
	lv := levelOf(level)
	return func(c *script.Ctx) int {
		l := lv
		if dynLevel != nil {
			l = levelOf(int(dynLevel.Get(c).AsInt()))
		}
		if !h.Enabled(context.Background(), l) {
			return 1
		}
		b := c.GetBuf()
		b = append(b, linePrefix...)
		b = f.Append(c, b)
		r := slog.NewRecord(time.Now(), l, string(b), 0)
		c.PutBuf(b)
		if pfx {
			if p := slot.Get(c).s; p != "" {
				r.AddAttrs(slog.String(logging.PrefixKey, p))
			}
		}
		_ = h.Handle(context.Background(), r)
		return 1
	}, nil
}

// compilePrefix compiles the core log_prefix format once.
func (m *Module) compilePrefix(fc *script.FixupCtx) error {
	if m.pfxTried || m.logPfx == "" {
		return nil
	}
	m.pfxTried = true
	f, err := fc.ParseFormat(m.logPfx)
	if err != nil {
		return fmt.Errorf("log_prefix %q: %w", m.logPfx, err)
	}
	m.pfxFmt = f
	return nil
}

// PreScript evaluates log_prefix for the message, as Kamailio does when it
// receives one (before the script can change what the PVs show).
func (m *Module) PreScript(c *script.Ctx) bool {
	if m.pfxFmt == nil {
		return true
	}
	st := m.pfxSlot.Get(c)
	st.s = m.pfxFmt.String(c)
	return true
}
