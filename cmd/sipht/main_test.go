package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCmd(t, "-V")
	if code != 0 || !strings.HasPrefix(out, "version: sipht ") {
		t.Fatalf("-V: %d %q", code, out)
	}
	if code, _, _ := runCmd(t, "-nosuchflag"); code != 2 {
		t.Fatalf("bad flag exit = %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "extra"); code != 2 {
		t.Fatalf("extra arg exit = %d, want 2", code)
	}
}

func TestCheckReportsPositions(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "bad.cfg")
	os.WriteFile(f, []byte("listen=udp:127.0.0.1:5999\nrequest_route {\n  nosuch_fn();\n}\n"), 0o644)
	code, _, errs := runCmd(t, "-c", "-f", f)
	if code != 1 || !strings.Contains(errs, "bad.cfg:3:3") || !strings.Contains(errs, "nosuch_fn") {
		t.Fatalf("-c on a bad config: exit %d, stderr:\n%s", code, errs)
	}
	good := filepath.Join(dir, "good.cfg")
	os.WriteFile(good, []byte("#!define PORT 5999\nlisten=udp:127.0.0.1:PORT\nrequest_route {\n  exit;\n}\n"), 0o644)
	if code, _, errs := runCmd(t, "-c", "-f", good, "-A", "X=1"); code != 0 {
		t.Fatalf("-c on a good config: exit %d:\n%s", code, errs)
	}
}

func TestUserAndDBInit(t *testing.T) {
	dir := t.TempDir()
	url := "sqlite:///" + filepath.Join(dir, "sub", "t.db")
	if code, out, errs := runCmd(t, "db", "init", url); code != 0 || !strings.Contains(out, "created") {
		t.Fatalf("db init: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := runCmd(t, "db", "init", url); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second db init: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "user", "--db", url, "add", "alice@example.com", "secret"); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "user", "--db", url, "add", "alice@example.com", "secret"); code != 1 {
		t.Fatalf("duplicate user add: exit %d %s", code, errs)
	}
	code, out, _ := runCmd(t, "user", "--db", url, "list")
	// HA1 = MD5("alice:example.com:secret")
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "example.com") {
		t.Fatalf("user list: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "user", "--db", url, "rm", "alice@example.com"); code != 0 {
		t.Fatalf("user rm: %d %s", code, errs)
	}
	if code, _, _ := runCmd(t, "user", "--db", url, "rm", "alice@example.com"); code != 1 {
		t.Fatalf("rm of a missing user must fail")
	}
	if code, _, _ := runCmd(t, "user", "--db", url, "add", "nodomain", "x"); code != 2 {
		t.Fatalf("user without domain must be a usage error")
	}
}
