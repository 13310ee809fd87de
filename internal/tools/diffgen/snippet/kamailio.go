package snippet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultKamailio is where Debian installs kamailio (not on every PATH).
const DefaultKamailio = "/usr/sbin/kamailio"

// Case is one run: a complete config (built for a given UDP port on
// 127.0.0.1, whose request_route handles the request and whose reply_route
// logs a Marker for marker replies, as Snippet.Config does) and the request
// sent to it.
type Case struct {
	// Name names the run in messages and temp dirs.
	Name string
	// Config returns the config text for a listen port.
	Config func(port int) string
	// Request is the raw request sent once (Request() for snippets).
	Request string
}

// Case returns the run of a snippet: its Config and the fixed Request.
func (s *Snippet) Case() Case {
	return Case{Name: s.Name, Config: s.Config, Request: Request()}
}

// Kamailio runs cases on a real Kamailio (one fresh process per case).
type Kamailio struct {
	// Path is the kamailio binary.
	Path string
	// StartTimeout bounds the wait for Kamailio to process its first marker.
	StartTimeout time.Duration
	// RunTimeout bounds the wait for the request to be processed.
	RunTimeout time.Duration
	// Log, when set, receives Kamailio's full stderr of every run.
	Log func(snippet string, stderr []string)
}

// errBind marks a failure to bind the chosen port, worth a retry on another.
var errBind = errors.New("kamailio could not bind its port")

// NewKamailio returns a runner for the kamailio binary at path with the
// default timeouts.
func NewKamailio(path string) *Kamailio {
	return &Kamailio{Path: path, StartTimeout: 20 * time.Second, RunTimeout: 20 * time.Second}
}

// Run runs one case, retrying a few times when the free port it picked
// was taken meanwhile.
func (r *Kamailio) Run(ctx context.Context, s Case) (*Result, error) {
	var err error
	for range 4 {
		var res *Result
		res, err = r.runOnce(ctx, s)
		if errors.Is(err, errBind) {
			continue
		}
		return res, err
	}
	return nil, err
}

// stderrLog collects Kamailio's stderr lines and lets the caller wait for one.
type stderrLog struct {
	mu    sync.Mutex
	cond  *sync.Cond
	lines []string
	done  bool
}

func newStderrLog() *stderrLog {
	l := &stderrLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *stderrLog) read(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.cond.Broadcast()
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.done = true
	l.cond.Broadcast()
	l.mu.Unlock()
}

func (l *stderrLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// waitMarker waits until the marker line for callID appears (returning its
// index), stderr ends (returning -1, nil) or the deadline passes.
func (l *stderrLog) waitMarker(callID string, deadline time.Time) (int, error) {
	want := Marker(callID)
	stop := time.AfterFunc(time.Until(deadline), func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	scanned := 0
	for {
		for ; scanned < len(l.lines); scanned++ {
			// Contains, not equality: an xlog text without trailing
			// newline may have been glued in front of the marker line.
			if strings.Contains(l.lines[scanned], "<script>: "+want) {
				return scanned, nil
			}
		}
		if l.done {
			return -1, nil
		}
		if !time.Now().Before(deadline) {
			return -1, fmt.Errorf("timed out waiting for marker %s", callID)
		}
		l.cond.Wait()
	}
}

// freeUDPPort asks the kernel for a free UDP port on 127.0.0.1.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func (r *Kamailio) runOnce(ctx context.Context, s Case) (res *Result, err error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "diffgen-"+s.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(s.Config(port)), 0o644); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}

	// The client socket: receives the replies Kamailio sends.
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("client socket: %w", err)
	}
	defer client.Close()
	kaddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}

	// Small shared/private memory so that two parallel runs stay light.
	cmd := exec.CommandContext(ctx, r.Path, "-DD", "-E", "-m", "32", "-M", "4", "-f", cfgPath)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kamailio: %w", err)
	}
	logs := newStderrLog()
	readDone := make(chan struct{})
	go func() { logs.read(stderr); close(readDone) }()
	exited := make(chan error, 1)
	go func() { <-readDone; exited <- cmd.Wait() }()
	defer func() {
		stopKamailio(cmd, exited)
		if r.Log != nil {
			r.Log(s.Name, logs.snapshot())
		}
	}()

	// Readiness: send marker replies until one is processed by reply_route,
	// or until Kamailio exits (the config was refused).
	ready := make(chan error, 1)
	go func() {
		_, err := logs.waitMarker("ready", time.Now().Add(r.StartTimeout))
		ready <- err
	}()
	ticker := time.NewTicker(150 * time.Millisecond)
	defer ticker.Stop()
	sendMarker := func(id string) error {
		_, err := client.WriteToUDP([]byte(MarkerReply(id)), kaddr)
		return err
	}
wait:
	for {
		if err := sendMarker("ready"); err != nil {
			return nil, fmt.Errorf("sending readiness marker: %w", err)
		}
		select {
		case err := <-ready:
			if err != nil {
				return nil, err
			}
			break wait
		case <-ticker.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	lines := logs.snapshot()
	readyIdx := -1
	for i, l := range lines {
		if m := ScriptLogRE.FindStringSubmatch(l); m != nil && m[2] == Marker("ready") {
			readyIdx = i
			break
		}
	}
	if readyIdx < 0 { // stderr ended: Kamailio exited during startup
		all := strings.Join(lines, "\n")
		if strings.Contains(all, "Address already in use") || strings.Contains(all, "bind(") {
			return nil, errBind
		}
		return &Result{ConfigError: true, Stderr: lines}, nil
	}

	// The request, then the end marker: with children=1 a single process
	// handles both in order, so the end marker is logged only after the
	// request is completely processed.
	if _, err := client.WriteToUDP([]byte(s.Request), kaddr); err != nil {
		return nil, fmt.Errorf("sending request: %w", err)
	}
	if err := sendMarker("end"); err != nil {
		return nil, fmt.Errorf("sending end marker: %w", err)
	}
	endIdx, err := logs.waitMarker("end", time.Now().Add(r.RunTimeout))
	if err != nil {
		return nil, err
	}
	lines = logs.snapshot()
	if endIdx < 0 {
		return nil, fmt.Errorf("kamailio exited while processing the request; stderr:\n%s", Tail(lines, 20))
	}
	res = &Result{Stderr: lines}
	if res.Lines, err = ScriptLines(lines[readyIdx+1 : endIdx+1]); err != nil {
		return nil, err
	}
	// Replies were sent before the end marker was even read by Kamailio;
	// on loopback they are already queued on the client socket.
	buf := make([]byte, 65535)
	for {
		_ = client.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := client.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if st, ok := ReplyStatus(buf[:n]); ok {
			res.Replies = append(res.Replies, st)
		}
	}
	return res, nil
}

// stopKamailio terminates the whole process group and waits for it.
func stopKamailio(cmd *exec.Cmd, exited <-chan error) {
	if cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Children that outlived the main process.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Tail returns the last n lines joined, for failure messages.
func Tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
