package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
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
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	if rec["level"] != "CRITICAL" || rec["msg"] != "boom" || rec["module"] != "pike" {
		t.Fatalf("record = %v", rec)
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
	if _, _, err := New(Config{JSON: true, SyslogNetwork: "unixgram", SyslogAddr: addr}); err == nil {
		t.Fatal("json over syslog must be refused")
	}
}
