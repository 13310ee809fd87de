// Package htable_test holds end-to-end tests of the htable module that need
// the sipht binary: the write-behind crash test.
//
//	go test ./test/htable -run TestWriteBehindCrash -v
//	SIPHT_BIN=/path/to/sipht go test ./test/htable -v
package htable_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/testutil"
)

// siphtBin returns $SIPHT_BIN or a binary built from ./cmd/sipht.
func siphtBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SIPHT_BIN"); p != "" {
		return p
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("go.mod not found")
		}
		root = parent
	}
	bin := filepath.Join(t.TempDir(), "sipht")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sipht")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sipht: %v\n%s", err, out)
	}
	return bin
}

// proc is a running sipht with its stderr collected.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
}

func start(t *testing.T, bin, cfg string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, "-f", cfg), done: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = p.cmd.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "listening") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("sipht exited at start:\n%s", p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("sipht not listening after 30 s:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// TestWriteBehindCrash runs the sipht binary with a dbmode=2 table on
// SQLite whose request_route writes a new numbered item per request, sends
// a steady stream of requests over UDP, kills the server with SIGKILL in
// the middle of the stream, and checks what survived: the persisted
// items must be exactly 1..M (every flush is one transaction, so there is
// no hole), and the lost ones are the last requests before the kill (the
// write-behind window: write_behind_interval plus the flush in progress).
func TestWriteBehindCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sipht binary")
	}
	bin := siphtBin(t)
	dir := t.TempDir()
	port := testutil.FreeUDPPort(t, "127.0.0.1")
	dbPath := filepath.Join(dir, "crash.db")
	const interval = time.Second
	cfg := filepath.Join(dir, "crash.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:%d
loadmodule "htable.so"
modparam("htable", "db_url", "sqlite://%s")
modparam("htable", "htable", "t=>size=12;initval=0;dbtable=t;dbmode=2")
modparam("htable", "write_behind_interval", "%s")
request_route {
	$var(n) = $shtinc(t=>seq);
	$sht(t=>k$var(n)) = $var(n);
	exit;
}
`, port, dbPath, interval)), 0o644)

	p := start(t, bin, cfg)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// a steady stream: rate per second, killed after killAfter
	const rate = 2000
	const killAfter = 3 * time.Second
	var sent []time.Time
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	begin := time.Now()
	var killed time.Time
	for i := 1; ; i++ {
		<-tick.C
		if time.Since(begin) >= killAfter {
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
			killed = time.Now()
			break
		}
		fmt.Fprintf(conn, "OPTIONS sip:crash@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-c%d\r\nFrom: <sip:c@x>;tag=%d\r\nTo: <sip:crash@x>\r\nCall-ID: crash-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", port, i, i, i)
		sent = append(sent, time.Now())
	}
	<-p.done

	// what survived
	d, err := db.Open(context.Background(), "sqlite://"+dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := d.SQL().Query("SELECT key_name, key_value FROM t")
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	seq := -1
	for rows.Next() {
		var k, v string
		rows.Scan(&k, &v)
		if k == "seq" {
			seq, _ = strconv.Atoi(v)
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(k, "k"))
		if err != nil || !strings.HasPrefix(k, "k") {
			t.Errorf("unexpected row %q=%q", k, v)
			continue
		}
		nums = append(nums, n)
	}
	rows.Close()
	d.Close()
	sort.Ints(nums)
	persisted := len(nums)
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("hole in the persisted items: item %d missing (have %d items up to %d)", i+1, persisted, nums[len(nums)-1])
		}
	}
	if seq != persisted {
		t.Errorf("seq row %d, items 1..%d", seq, persisted)
	}
	if persisted == 0 {
		t.Fatalf("nothing persisted:\n%s", p.log())
	}
	lost := len(sent) - persisted
	window := time.Duration(0)
	if lost > 0 {
		window = killed.Sub(sent[persisted])
	}
	t.Logf("sent %d requests in %v (%d/s achieved), SIGKILL, persisted items 1..%d, lost the last %d: sent in the %v before the kill (write_behind_interval %v)",
		len(sent), killAfter, int(float64(len(sent))/killAfter.Seconds()), persisted, lost, window.Round(time.Millisecond), interval)
	// Changes older than the interval plus a slow flush must have
	// survived (generous bound: the machine may be loaded).
	if window > interval+5*time.Second {
		t.Errorf("lost changes from %v before the kill", window)
	}

	// restart: the table loads what survived
	p2 := start(t, bin, cfg)
	want := fmt.Sprintf("values=%d", persisted+1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p2.log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("restart did not log %q:\n%s", want, p2.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(p2.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p2.done:
	case <-time.After(30 * time.Second):
		t.Fatal("sipht did not stop on SIGTERM")
	}
}
