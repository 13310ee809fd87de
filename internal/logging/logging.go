// Package logging builds sipht's log/slog logger from Kamailio's core log
// parameters: debug (the level), log_stderror (stderr or syslog),
// log_facility, log_name, and the JSON format (Kamailio's command-line
// option --log-engine=json, or log_engine_type="json" in the config).
//
// Kamailio's numeric levels map onto slog levels; NOTICE, CRITICAL and ALERT
// are levels of their own between and above slog's, so xlog's xnotice,
// xcrit and xalert keep their meaning. On stderr a line looks like
// Kamailio's:
//
//	0(4242) ERROR: <script>: MessageCount is 1
//	0(4242) INFO: htable: table loaded name=AuthCount items=12
//
// In JSON, one object per line (on stderr or as the syslog message), with
// the field names of Kamailio's json log engine where they exist:
//
//	{"time":"...","level":"ERROR","message":"MessageCount is 1","pid":4242,"module":"<script>","logprefix":"{1 OPTIONS} "}
//	{"time":"...","level":"INFO","message":"table loaded","pid":4242,"module":"htable","name":"AuthCount","items":12}
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Levels beyond slog's four, so Kamailio's seven script levels survive.
const (
	LevelDebug  = slog.LevelDebug
	LevelInfo   = slog.LevelInfo
	LevelNotice = slog.Level(2)
	LevelWarn   = slog.LevelWarn
	LevelError  = slog.LevelError
	LevelCrit   = slog.Level(12)
	LevelAlert  = slog.Level(16)
)

// ModuleKey is the attribute that names the part of sipht that logged a
// record ("<script>" for xlog, a module name otherwise); the text handler
// prints it before the message as Kamailio does.
const ModuleKey = "module"

// PrefixKey is the attribute carrying Kamailio's log_prefix text (already
// evaluated for the message being processed): the text handler prints it
// right before the module, as Kamailio does (" 1(7) ERROR: {1 OPTIONS}
// <script>: text"); other handlers keep it as an ordinary attribute.
const PrefixKey = "log_prefix"

// FromKamailio maps a Kamailio log level number (L_ALERT=-5 ... L_DBG=3, as
// used by the `debug` core parameter and xlog's level names) to a slog level.
func FromKamailio(n int) slog.Level {
	switch {
	case n <= -5:
		return LevelAlert
	case n <= -2:
		return LevelCrit
	case n == -1:
		return LevelError
	case n == 0:
		return LevelWarn
	case n == 1:
		return LevelNotice
	case n == 2:
		return LevelInfo
	}
	return LevelDebug
}

// ParseXlogLevel maps xlog's level names (L_ALERT, L_BUG, L_CRIT, L_ERR,
// L_WARN, L_NOTICE, L_INFO, L_DBG) to slog levels.
func ParseXlogLevel(name string) (slog.Level, bool) {
	switch strings.ToUpper(name) {
	case "L_ALERT":
		return LevelAlert, true
	case "L_BUG", "L_CRIT":
		return LevelCrit, true
	case "L_ERR":
		return LevelError, true
	case "L_WARN":
		return LevelWarn, true
	case "L_NOTICE":
		return LevelNotice, true
	case "L_INFO":
		return LevelInfo, true
	case "L_DBG":
		return LevelDebug, true
	}
	return 0, false
}

// LevelName returns the name Kamailio prints for a level.
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelAlert:
		return "ALERT"
	case l >= LevelCrit:
		return "CRITICAL"
	case l >= LevelError:
		return "ERROR"
	case l >= LevelWarn:
		return "WARNING"
	case l >= LevelNotice:
		return "NOTICE"
	case l >= LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// Config holds the log settings of a config file.
type Config struct {
	Level    slog.Level // from `debug`
	Stderr   bool       // log_stderror=yes
	JSON     bool       // --log-engine=json or log_engine_type="json"
	Facility string     // log_facility, e.g. LOG_LOCAL0 (syslog only)
	Name     string     // log_name: the syslog ident (default "sipht")
	Writer   io.Writer  // where stderr logging goes; os.Stderr when nil
	// SyslogNetwork and SyslogAddr name a syslog server ("unixgram",
	// "/dev/log"; "udp", "host:514"); empty means the local daemon.
	SyslogNetwork, SyslogAddr string
}

// New builds the logger a Config asks for. The returned close function
// releases the syslog connection, if any.
func New(c Config) (*slog.Logger, func() error, error) {
	level := new(slog.LevelVar)
	level.Set(c.Level)
	if c.Stderr {
		w := c.Writer
		if w == nil {
			w = os.Stderr
		}
		var h slog.Handler
		if c.JSON {
			h = newJSONHandler(w, level)
		} else {
			h = NewTextHandler(w, level)
		}
		return slog.New(h), func() error { return nil }, nil
	}
	fac, err := ParseFacility(c.Facility)
	if err != nil {
		return nil, nil, err
	}
	name := c.Name
	if name == "" {
		name = "sipht"
	}
	sw, err := syslog.Dial(c.SyslogNetwork, c.SyslogAddr, fac|syslog.LOG_INFO, name)
	if err != nil {
		return nil, nil, fmt.Errorf("logging: connect to syslog: %w", err)
	}
	if c.JSON {
		sl := &syslogLine{w: sw}
		return slog.New(&levelHandler{Handler: newJSONHandler(sl, level), out: sl, mu: new(sync.Mutex)}), sw.Close, nil
	}
	h := &TextHandler{level: level, out: func(l slog.Level, line []byte) error {
		// the syslog daemon adds its own ident and pid: ours are cut off
		msg := string(line)
		if i := strings.Index(msg, ") "); i >= 0 {
			msg = msg[i+2:]
		}
		return toSyslog(sw, l, msg)
	}}
	return slog.New(h), sw.Close, nil
}

// newJSONHandler writes one JSON object per record to w, with Kamailio's
// json log engine field names and level names.
// A record without a module is the core's ("<core>", as the text format
// prints it).
func newJSONHandler(w io.Writer, level slog.Leveler) slog.Handler {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: jsonAttrs})
	return &jsonHandler{Handler: h.WithAttrs([]slog.Attr{slog.Int("pid", os.Getpid())})}
}

// jsonHandler adds module "<core>" to records that name no module.
type jsonHandler struct {
	slog.Handler
	hasModule bool // set by WithAttrs
}

func (h *jsonHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.hasModule {
		return h.Handler.Handle(ctx, r)
	}
	named := false
	r.Attrs(func(a slog.Attr) bool {
		named = a.Key == ModuleKey
		return !named
	})
	if !named {
		r2 := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		r2.AddAttrs(slog.String(ModuleKey, "<core>"))
		r.Attrs(func(a slog.Attr) bool { r2.AddAttrs(a); return true })
		r = r2
	}
	return h.Handler.Handle(ctx, r)
}

func (h *jsonHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.hasModule
	for _, a := range attrs {
		has = has || a.Key == ModuleKey
	}
	return &jsonHandler{Handler: h.Handler.WithAttrs(attrs), hasModule: has}
}

func (h *jsonHandler) WithGroup(name string) slog.Handler {
	return &jsonHandler{Handler: h.Handler.WithGroup(name), hasModule: h.hasModule}
}

// jsonAttrs renames slog's keys to those of Kamailio's json log engine
// ("message", "logprefix"), prints Kamailio's level names and drops the
// message's trailing newline (xlog messages end with "\n"; Kamailio's
// "M" flag).
func jsonAttrs(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(slog.LevelKey, LevelName(l))
		}
	case slog.MessageKey:
		return slog.String("message", strings.TrimRight(a.Value.String(), "\n"))
	case PrefixKey:
		a.Key = "logprefix"
	}
	return a
}

// syslogLine sends each line written to it (one JSON record) to syslog
// with the priority of the record's level, which levelHandler sets.
type syslogLine struct {
	w     *syslog.Writer
	level slog.Level
}

func (s *syslogLine) Write(p []byte) (int, error) {
	return len(p), toSyslog(s.w, s.level, strings.TrimRight(string(p), "\n"))
}

// levelHandler passes the record's level to out before the wrapped
// handler writes the record (one Write call), one record at a time.
type levelHandler struct {
	slog.Handler
	out *syslogLine
	mu  *sync.Mutex // shared by the handlers derived from one
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.out.level = r.Level
	return h.Handler.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(attrs), out: h.out, mu: h.mu}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), out: h.out, mu: h.mu}
}

// ParseFacility maps a log_facility value (LOG_LOCAL0 ... LOG_DAEMON) to its
// syslog priority. The empty string means LOG_DAEMON, Kamailio's default.
func ParseFacility(name string) (syslog.Priority, error) {
	switch strings.ToUpper(strings.TrimPrefix(strings.ToUpper(name), "LOG_")) {
	case "", "DAEMON":
		return syslog.LOG_DAEMON, nil
	case "USER":
		return syslog.LOG_USER, nil
	case "AUTH":
		return syslog.LOG_AUTH, nil
	case "AUTHPRIV":
		return syslog.LOG_AUTHPRIV, nil
	case "LOCAL0":
		return syslog.LOG_LOCAL0, nil
	case "LOCAL1":
		return syslog.LOG_LOCAL1, nil
	case "LOCAL2":
		return syslog.LOG_LOCAL2, nil
	case "LOCAL3":
		return syslog.LOG_LOCAL3, nil
	case "LOCAL4":
		return syslog.LOG_LOCAL4, nil
	case "LOCAL5":
		return syslog.LOG_LOCAL5, nil
	case "LOCAL6":
		return syslog.LOG_LOCAL6, nil
	case "LOCAL7":
		return syslog.LOG_LOCAL7, nil
	}
	return 0, fmt.Errorf("logging: unknown log_facility %q (want LOG_DAEMON, LOG_USER, LOG_LOCAL0 ... LOG_LOCAL7)", name)
}

// TextHandler writes records in Kamailio's stderr shape:
// " 0(PID) LEVEL: <module>: message key=value ...".
type TextHandler struct {
	out    func(l slog.Level, line []byte) error
	level  slog.Leveler
	module string
	attrs  []byte // preformatted " key=value" pairs from WithAttrs
	group  string
}

// NewTextHandler returns a TextHandler writing to w at or above level.
func NewTextHandler(w io.Writer, level slog.Leveler) *TextHandler {
	var mu sync.Mutex
	return &TextHandler{level: level, out: func(_ slog.Level, line []byte) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := w.Write(line)
		return err
	}}
}

// Enabled reports whether records at l are written.
func (h *TextHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

var pidText = strconv.Itoa(os.Getpid())

// Handle formats and writes one record.
func (h *TextHandler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 128)
	buf = append(buf, " 0("...)
	buf = append(buf, pidText...)
	buf = append(buf, ") "...)
	buf = append(buf, LevelName(r.Level)...)
	buf = append(buf, ": "...)
	module := h.module
	var rest []byte
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ModuleKey && h.group == "" {
			module = a.Value.String()
			return true
		}
		if a.Key == PrefixKey && h.group == "" {
			buf = append(buf, a.Value.String()...)
			return true
		}
		rest = appendAttr(rest, h.group, a)
		return true
	})
	if module == "" {
		module = "<core>"
	}
	buf = append(buf, module...)
	buf = append(buf, ": "...)
	buf = append(buf, strings.TrimRight(r.Message, "\n")...)
	buf = append(buf, h.attrs...)
	buf = append(buf, rest...)
	buf = append(buf, '\n')
	return h.out(r.Level, buf)
}

func appendAttr(buf []byte, group string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			buf = appendAttr(buf, key, ga)
		}
		return buf
	}
	buf = append(buf, ' ')
	buf = append(buf, key...)
	buf = append(buf, '=')
	s := a.Value.String()
	if s == "" || strings.ContainsAny(s, " \"=\n\t") {
		buf = strconv.AppendQuote(buf, s)
	} else {
		buf = append(buf, s...)
	}
	return buf
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *TextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]byte(nil), h.attrs...)
	for _, a := range attrs {
		if a.Key == ModuleKey && h.group == "" {
			h2.module = a.Value.String()
			continue
		}
		h2.attrs = appendAttr(h2.attrs, h.group, a)
	}
	return &h2
}

// WithGroup returns a handler that qualifies later attribute keys with name.
func (h *TextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	if h2.group != "" {
		h2.group += "." + name
	} else {
		h2.group = name
	}
	return &h2
}

// toSyslog sends one message with the priority of its level.
func toSyslog(w *syslog.Writer, l slog.Level, msg string) error {
	msg = strings.TrimRight(msg, "\n")
	switch {
	case l >= LevelAlert:
		return w.Alert(msg)
	case l >= LevelCrit:
		return w.Crit(msg)
	case l >= LevelError:
		return w.Err(msg)
	case l >= LevelWarn:
		return w.Warning(msg)
	case l >= LevelNotice:
		return w.Notice(msg)
	case l >= LevelInfo:
		return w.Info(msg)
	}
	return w.Debug(msg)
}
