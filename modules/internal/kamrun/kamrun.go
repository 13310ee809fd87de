// Package kamrun starts the real Kamailio 5.6 on loopback with a config
// text, for differential tests of the auth, auth_db, registrar and usrloc
// modules. The test is skipped (or failed with SIPHT_REQUIRE_EXTERNAL=1)
// when Kamailio is not installed; the process group is killed at test end.
package kamrun

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

// Kamailio is a running Kamailio.
type Kamailio struct {
	// UDP is the SIP listener, "127.0.0.1:port".
	UDP string
	// Dir is the working directory (files in it are relative to workdir).
	Dir string
	log *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Log returns Kamailio's output so far.
func (k *Kamailio) Log() string { return k.log.String() }

// ModulesDir returns the directory holding Kamailio's modules, or skips.
func ModulesDir(t testing.TB) string {
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules"} {
		if _, err := os.Stat(filepath.Join(p, "sl.so")); err == nil {
			return p
		}
	}
	testutil.Missing(t, "Kamailio modules", "sl.so not found")
	return ""
}

// FreeUDPPort returns a free UDP port on 127.0.0.1.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Start runs Kamailio on cfg, in which "{port}" is replaced by a free UDP
// port, "{mpath}" by the modules directory and "{dir}" by the working
// directory (dir, or a new temporary one when empty). It waits until the
// SIP port answers.
func Start(t testing.TB, cfg, dir string) *Kamailio {
	t.Helper()
	bin := testutil.LookPath(t, "kamailio", "/usr/sbin/kamailio")
	mpath := ModulesDir(t)
	if dir == "" {
		dir = t.TempDir()
	}
	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		port := FreeUDPPort(t)
		text := strings.NewReplacer("{port}", fmt.Sprint(port), "{mpath}", mpath, "{dir}", dir).Replace(cfg)
		path := filepath.Join(dir, "kamailio.cfg")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		k := &Kamailio{UDP: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, log: &lockedBuf{}}
		cmd := exec.Command(bin, "-DD", "-E", "-f", path, "-Y", dir, "-w", dir, "-P", filepath.Join(dir, "kamailio.pid"))
		cmd.Dir = dir
		cmd.Stdout = k.log
		cmd.Stderr = k.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start kamailio: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		stop := func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
		if waitReady(k, done) {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("kamailio log (tail):\n%s", tail(k.log.String(), 60))
				}
			})
			return k
		}
		stop()
		lastLog = k.log.String()
		if !strings.Contains(lastLog, "bind") {
			break
		}
	}
	t.Fatalf("kamailio did not start:\n%s", tail(lastLog, 60))
	return nil
}

// waitReady sends OPTIONS until any reply comes back.
func waitReady(k *Kamailio, done chan struct{}) bool {
	c, err := net.Dial("udp", k.UDP)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-done:
			return false
		default:
		}
		la := c.LocalAddr().String()
		msg := fmt.Sprintf("OPTIONS sip:ping@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-kamrun%d\r\nFrom: <sip:kamrun@127.0.0.1>;tag=k%d\r\n"+
			"To: <sip:ping@127.0.0.1>\r\nCall-ID: kamrun-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nX-Kamrun: ping\r\nContent-Length: 0\r\n\r\n", k.UDP, la, i, i, i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			// let every worker finish its start-up
			time.Sleep(100 * time.Millisecond)
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
