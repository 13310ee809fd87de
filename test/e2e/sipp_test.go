package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
)

// sipMsg is one SIP message from a sipp message trace.
type sipMsg struct {
	sent    bool   // sent by sipp (else received)
	first   string // request or status line
	headers []header
}

type header struct{ name, value string }

// hdr returns the first value of the named header (case-insensitive, with
// the compact forms sipp and servers use).
func (m sipMsg) hdr(name string) string {
	for _, h := range m.headers {
		if sameHeader(h.name, name) {
			return h.value
		}
	}
	return ""
}

// all returns every value of the named header, split at top-level commas for
// Via.
func (m sipMsg) all(name string) []string {
	var out []string
	for _, h := range m.headers {
		if sameHeader(h.name, name) {
			if sameHeader(name, "Via") {
				for _, v := range strings.Split(h.value, ",") {
					out = append(out, strings.TrimSpace(v))
				}
				continue
			}
			out = append(out, h.value)
		}
	}
	return out
}

var compactHeaders = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
	"l": "content-length", "c": "content-type",
}

func sameHeader(a, b string) bool {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if l, ok := compactHeaders[a]; ok {
		a = l
	}
	if l, ok := compactHeaders[b]; ok {
		b = l
	}
	return a == b
}

// isRequest reports whether the message is a request (not a reply).
func (m sipMsg) isRequest() bool { return !strings.HasPrefix(m.first, "SIP/2.0 ") }

// method returns the request method.
func (m sipMsg) method() string {
	f, _, _ := strings.Cut(m.first, " ")
	return f
}

// statusCode returns the status code of a reply, 0 for a request.
func (m sipMsg) statusCode() int {
	if m.isRequest() {
		return 0
	}
	parts := strings.SplitN(m.first, " ", 3)
	if len(parts) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(parts[1])
	return n
}

// parseTrace parses a sipp -trace_msg file into messages in order.
func parseTrace(b []byte) ([]sipMsg, error) {
	const sep = "----------------------------------------------- "
	var msgs []sipMsg
	var cur *sipMsg
	inBody, inHead := false, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, sep):
			if cur != nil {
				msgs = append(msgs, *cur)
			}
			cur = &sipMsg{}
			inHead, inBody = true, false
		case cur == nil:
		case inHead && strings.Contains(line, " message sent"):
			cur.sent = true
		case inHead && strings.Contains(line, " message received"):
			cur.sent = false
		case inHead && line == "":
			// blank line between the trace header and the message
		case inHead:
			inHead = false
			cur.first = line
		case inBody:
		case line == "":
			inBody = true
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("bad header line %q in trace", line)
			}
			cur.headers = append(cur.headers, header{strings.TrimSpace(name), strings.TrimSpace(value)})
		}
	}
	if cur != nil {
		msgs = append(msgs, *cur)
	}
	return msgs, sc.Err()
}

// sippRun describes one sipp invocation (one call).
type sippRun struct {
	scenario string   // file name in test/e2e/sipp
	srcIP    string   // local address (the source IP the server sees)
	srcPort  int      // local port; 0 picks a free one
	target   string   // "ip:port" of the server, empty for a UAS
	args     []string // scenario arguments (-s, -au, -ap, -set, -key ...)
	calls    int      // calls to make one after the other (0 means 1)
	// how long to wait for each answer; 0 means 4 s
	recvTimeout time.Duration
}

// sippResult is what one sipp call did.
type sippResult struct {
	msgs    []sipMsg
	srcPort int
	output  string // sipp's stdout/stderr
}

func sippBin(t testing.TB) string {
	t.Helper()
	return testutil.LookPath(t, "sipp", "/usr/bin/sipp", "/usr/local/bin/sipp")
}

// sippCommand builds the sipp command for r; the message trace goes to
// trace. Retransmissions are off (-nr) so that every request reaches the
// server exactly once.
func sippCommand(ctx context.Context, t testing.TB, dir string, r *sippRun, trace string) *exec.Cmd {
	t.Helper()
	if r.srcPort == 0 {
		r.srcPort = testutil.FreeUDPPort(t, r.srcIP)
	}
	calls, recvTimeout := max(r.calls, 1), r.recvTimeout
	if recvTimeout == 0 {
		recvTimeout = 4 * time.Second
	}
	args := []string{
		"-sf", filepath.Join(repoRoot(t), "test", "e2e", "sipp", r.scenario),
		"-m", strconv.Itoa(calls), "-l", "1", "-r", "1000", "-nr", "-nostdin",
		"-recv_timeout", strconv.FormatInt(recvTimeout.Milliseconds(), 10), "-timeout", "30s",
		"-i", r.srcIP, "-p", strconv.Itoa(r.srcPort),
		"-trace_msg", "-message_file", trace,
	}
	args = append(args, r.args...)
	if r.target != "" {
		args = append(args, r.target)
	}
	cmd := exec.CommandContext(ctx, sippBin(t), args...)
	cmd.Dir = dir
	return cmd
}

// runSipp runs one sipp call to completion and returns its message trace.
func runSipp(t testing.TB, dir string, r sippRun) sippResult {
	t.Helper()
	trace := filepath.Join(dir, fmt.Sprintf("sipp-%d.trace", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := sippCommand(ctx, t, dir, &r, trace)
	out, err := cmd.CombinedOutput()
	res := sippResult{srcPort: r.srcPort, output: string(out)}
	b, rerr := os.ReadFile(trace)
	if rerr != nil {
		t.Fatalf("sipp %s: no message trace (%v); sipp: %v\n%s", strings.Join(cmd.Args, " "), rerr, err, lastLines(string(out), 30))
	}
	msgs, perr := parseTrace(b)
	if perr != nil {
		t.Fatalf("sipp trace %s: %v", trace, perr)
	}
	res.msgs = msgs
	return res
}

// startSippUAS starts a sipp UAS in the background (it ends after one call)
// and returns a function that waits for it and returns its trace.
func startSippUAS(t testing.TB, dir string, r sippRun) func() sippResult {
	t.Helper()
	trace := filepath.Join(dir, fmt.Sprintf("sipp-uas-%d.trace", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := sippCommand(ctx, t, dir, &r, trace)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting sipp UAS: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// Wait until sipp has bound its port.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !udpPortFree(r.srcIP, r.srcPort) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() sippResult {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cancel()
			<-done
		}
		res := sippResult{srcPort: r.srcPort, output: out.String()}
		b, err := os.ReadFile(trace)
		if err != nil {
			return res // the UAS received nothing
		}
		res.msgs, err = parseTrace(b)
		if err != nil {
			t.Fatalf("sipp UAS trace: %v", err)
		}
		return res
	}
}

func udpPortFree(ip string, port int) bool {
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
