package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestKamailioLevels(t *testing.T) {
	cases := []struct {
		n    int
		name string
	}{
		{-5, "ALERT"}, {-4, "CRITICAL"}, {-2, "CRITICAL"}, {-1, "ERROR"},
		{0, "WARNING"}, {1, "NOTICE"}, {2, "INFO"}, {3, "DEBUG"}, {4, "DEBUG"},
	}
	for _, c := range cases {
		if got := LevelName(FromKamailio(c.n)); got != c.name {
			t.Errorf("debug=%d: %s, want %s", c.n, got, c.name)
		}
	}
	for name, want := range map[string]string{
		"L_ALERT": "ALERT", "L_BUG": "CRITICAL", "L_CRIT": "CRITICAL", "L_ERR": "ERROR",
		"L_WARN": "WARNING", "L_NOTICE": "NOTICE", "L_INFO": "INFO", "L_DBG": "DEBUG",
	} {
		l, ok := ParseXlogLevel(name)
		if !ok || LevelName(l) != want {
			t.Errorf("%s: %s %v, want %s", name, LevelName(l), ok, want)
		}
	}
	if _, ok := ParseXlogLevel("L_NOPE"); ok {
		t.Error("unknown level accepted")
	}
}

func TestTextHandlerShape(t *testing.T) {
	var buf bytes.Buffer
	log, closeFn, err := New(Config{Level: LevelInfo, Stderr: true, Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	log.With(ModuleKey, "<script>").Error("MessageCount is 1\n")
	log.With(ModuleKey, "htable").Info("table loaded", "name", "AuthCount", "items", 12)
	log.Debug("hidden")
	log.Log(nil, LevelNotice, "notice", "note", "two words")
	log.With(ModuleKey, "<script>").Error("hello OPTIONS", PrefixKey, "{1 1 OPTIONS c1} ")
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	suffixes := []string{
		") ERROR: <script>: MessageCount is 1",
		") INFO: htable: table loaded name=AuthCount items=12",
		`) NOTICE: <core>: notice note="two words"`,
		") ERROR: {1 1 OPTIONS c1} <script>: hello OPTIONS",
	}
	for i, s := range suffixes {
		if !strings.HasPrefix(lines[i], " 0(") || !strings.HasSuffix(lines[i], s) {
			t.Errorf("line %d = %q, want suffix %q", i, lines[i], s)
		}
	}
}

func TestJSONHandler(t *testing.T) {
	var buf bytes.Buffer
	log, _, err := New(Config{Level: LevelDebug, Stderr: true, JSON: true, Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	log.Log(nil, LevelCrit, "boom", ModuleKey, "pike")
	log.With(ModuleKey, "<script>").Error("MessageCount is 1\n", PrefixKey, "{1 OPTIONS} ")
	log.Log(nil, LevelNotice, "notice", "table", "AuthCount")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	// Kamailio's json log engine's names: level, module, logprefix, message, pid
	for i, want := range []map[string]any{
		{"level": "CRITICAL", "message": "boom", "module": "pike"},
		{"level": "ERROR", "message": "MessageCount is 1", "module": "<script>", "logprefix": "{1 OPTIONS} "},
		{"level": "NOTICE", "message": "notice", "table": "AuthCount", "module": "<core>"},
	} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("not JSON: %v: %s", err, lines[i])
		}
		if rec["pid"] != float64(os.Getpid()) || rec["time"] == nil {
			t.Errorf("record %d: pid %v time %v", i, rec["pid"], rec["time"])
		}
		delete(rec, "pid")
		delete(rec, "time")
		if !maps.Equal(rec, want) {
			t.Errorf("record %d = %v, want %v", i, rec, want)
		}
	}
}

func TestFacility(t *testing.T) {
	for _, ok := range []string{"", "LOG_LOCAL0", "local7", "LOG_DAEMON", "LOG_USER"} {
		if _, err := ParseFacility(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if _, err := ParseFacility("LOG_NOPE"); err == nil {
		t.Error("unknown facility accepted")
	}
}

func TestLevelVarRespected(t *testing.T) {
	var buf bytes.Buffer
	log, _, _ := New(Config{Level: LevelWarn, Stderr: true, Writer: &buf})
	log.Info("no")
	log.Log(nil, LevelNotice, "no")
	log.Warn("yes")
	if got := strings.Count(buf.String(), "\n"); got != 1 {
		t.Fatalf("%d lines written: %q", got, buf.String())
	}
	_ = slog.LevelInfo
}

func TestSyslog(t *testing.T) {
	dir := t.TempDir()
	addr := dir + "/log"
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	log, closeFn, err := New(Config{Level: LevelInfo, Facility: "LOG_LOCAL0", Name: "sipht",
		SyslogNetwork: "unixgram", SyslogAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	log.With(ModuleKey, "<script>").Error("MessageCount is 2")
	buf := make([]byte, 1024)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	// LOG_LOCAL0 (16<<3) | LOG_ERR (3) = 131
	if !strings.HasPrefix(got, "<131>") || !strings.Contains(got, "sipht[") ||
		!strings.HasSuffix(strings.TrimSpace(got), "ERROR: <script>: MessageCount is 2") {
		t.Fatalf("syslog datagram = %q", got)
	}

	// JSON records are the syslog messages (as Kamailio's json engine)
	jlog, closeJ, err := New(Config{Level: LevelInfo, JSON: true, Facility: "LOG_LOCAL1", Name: "edge",
		SyslogNetwork: "unixgram", SyslogAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer closeJ()
	jlog.With(ModuleKey, "<script>").Log(nil, LevelAlert, "flood from 192.0.2.1\n")
	jlog.Info("listening", "addr", "127.0.0.1:5060")
	// LOG_LOCAL1 (17<<3) | LOG_ALERT (1) = 137, | LOG_INFO (6) = 142
	for _, want := range []struct {
		pri string
		rec map[string]any
	}{
		{"<137>", map[string]any{"level": "ALERT", "module": "<script>", "message": "flood from 192.0.2.1"}},
		{"<142>", map[string]any{"level": "INFO", "message": "listening", "addr": "127.0.0.1:5060", "module": "<core>"}},
	} {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := string(buf[:n])
		i := strings.Index(got, "{")
		if !strings.HasPrefix(got, want.pri) || !strings.Contains(got, " edge[") || i < 0 {
			t.Fatalf("syslog datagram = %q, want priority %s", got, want.pri)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(got[i:]), &rec); err != nil {
			t.Fatalf("not JSON: %v: %q", err, got)
		}
		delete(rec, "pid")
		delete(rec, "time")
		if !maps.Equal(rec, want.rec) {
			t.Errorf("record = %v, want %v", rec, want.rec)
		}
	}
}
