package modtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
)

// Kamailio is a real Kamailio 5.6 started by StartKamailio.
type Kamailio struct {
	UDP string // host:port it listens on
	log *syncBuffer
}

// Log returns what Kamailio printed so far.
func (k *Kamailio) Log() string { return k.log.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var kamailioModuleDirs = []string{"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules"}

// KamailioModuleDir returns the directory of Kamailio's modules, or calls
// testutil.Missing.
func KamailioModuleDir(t testing.TB) string {
	t.Helper()
	for _, p := range kamailioModuleDirs {
		if _, err := os.Stat(filepath.Join(p, "sl.so")); err == nil {
			return p
		}
	}
	testutil.Missing(t, "Kamailio modules", "sl.so not found")
	return ""
}

// StartKamailio runs the real Kamailio with a config made of: a header
// (log to stderr, one worker, UDP on a free 127.0.0.1 port, no TCP, the
// module path), loadmodule lines for modules, then body (modparams and
// routes). The first line of body may not be a listen=. Kamailio is killed
// at the end of the test; the test is skipped (failed with
// SIPHT_REQUIRE_EXTERNAL=1) when Kamailio is not installed.
func StartKamailio(t testing.TB, modules []string, body string) *Kamailio {
	t.Helper()
	bin := testutil.LookPath(t, "kamailio", "/usr/sbin/kamailio")
	mpath := KamailioModuleDir(t)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "debug=2\nlog_stderror=yes\nchildren=1\ndisable_tcp=yes\nauto_aliases=no\nlisten=udp:127.0.0.1:%d\nmpath=\"%s/\"\n", port, mpath)
	for _, m := range modules {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	b.WriteString(body)
	cfgFile := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &Kamailio{UDP: fmt.Sprintf("127.0.0.1:%d", port), log: &syncBuffer{}}
	cmd := exec.Command(bin, "-f", cfgFile, "-DD", "-E", "-w", dir, "-Y", dir, "-P", filepath.Join(dir, "k.pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = k.log, k.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("kamailio log:\n%s", k.log.String())
		}
	})
	// ready when the worker process logs its start-up, or when an OPTIONS
	// gets any answer
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("kamailio exited at start-up:\n%s", k.log.String())
		default:
		}
		if strings.Contains(k.log.String(), "child_init") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not start:\n%s", k.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return k
}

// KamailioAccepts reports whether Kamailio starts with a config made as
// StartKamailio makes it (modules plus sl, pv and xlog, then body): it runs
// Kamailio until its workers start (accepted) or it exits (refused; `kamailio
// -c` does not run the functions' fixups, so it cannot tell).
func KamailioAccepts(t testing.TB, modules []string, body string) bool {
	t.Helper()
	bin := testutil.LookPath(t, "kamailio", "/usr/sbin/kamailio")
	mpath := KamailioModuleDir(t)
	dir := t.TempDir()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "debug=2\nlog_stderror=yes\nchildren=1\ndisable_tcp=yes\nauto_aliases=no\nlisten=udp:127.0.0.1:%d\nmpath=\"%s/\"\n", port, mpath)
	for _, m := range dedupe(append([]string{"sl", "pv", "xlog"}, modules...)) {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	b.WriteString(body)
	cfgFile := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	cmd := exec.Command(bin, "-f", cfgFile, "-DD", "-E", "-w", dir, "-Y", dir, "-P", filepath.Join(dir, "k.pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			if testing.Verbose() {
				t.Logf("kamailio refused the config:\n%s", log.String())
			}
			return false
		default:
		}
		if strings.Contains(log.String(), "child_init") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("kamailio neither started nor exited:\n%s", log.String())
	return false
}
