package snippet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
)

// Sipht runs cases on sipht itself, in process (internal/server): the
// config is loaded exactly as `sipht -f` would load it, the server listens
// on its UDP port, the request arrives over loopback and the log is read
// as Kamailio's stderr is. Callers link the modules they want (import
// modules/all).
type Sipht struct {
	// RunTimeout bounds the wait for the request to be processed.
	RunTimeout time.Duration
	// SkipMissingModules leaves out the loadmodule and modparam lines of
	// modules sipht does not have (yet); Result.Missing lists them. A
	// snippet that calls their functions then fails to load with
	// Result.Unsupported set.
	SkipMissingModules bool
}

// NewSipht returns a runner with the default timeout.
func NewSipht() *Sipht { return &Sipht{RunTimeout: 20 * time.Second} }

var (
	loadModuleRE = regexp.MustCompile(`^\s*loadmodule\s+"([^"]+)"`)
	modParamRE   = regexp.MustCompile(`^\s*modparamx?\(\s*"([^"]+)"`)
)

// stripMissing comments out the lines of modules that are not compiled in
// (keeping the line numbers: xlogl prints them).
func stripMissing(config string) (string, []string) {
	missing := map[string]bool{}
	var out []string
	for _, l := range strings.Split(config, "\n") {
		if m := loadModuleRE.FindStringSubmatch(l); m != nil {
			name := strings.TrimSuffix(m[1][strings.LastIndexByte(m[1], '/')+1:], ".so")
			if info, ok := module.Lookup(name); !ok || info.Builtin {
				missing[name] = true
				out = append(out, "# sipht lacks this module: "+l)
				continue
			}
		}
		if m := modParamRE.FindStringSubmatch(l); m != nil && missing[m[1]] {
			out = append(out, "# sipht lacks this module: "+l)
			continue
		}
		out = append(out, l)
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(out, "\n"), names
}

// logLines is a goroutine-safe line collector that can wait for a line.
type logLines struct {
	mu      sync.Mutex
	cond    *sync.Cond
	partial []byte
	lines   []string
}

func newLogLines() *logLines {
	l := &logLines{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	rest := l.partial
	for {
		i := strings.IndexByte(string(rest), '\n')
		if i < 0 {
			break
		}
		// as bufio.ScanLines reads Kamailio's stderr: a CR before the LF goes
		l.lines = append(l.lines, strings.TrimSuffix(string(rest[:i]), "\r"))
		rest = rest[i+1:]
	}
	l.partial = append(l.partial[:0], rest...)
	l.cond.Broadcast()
	return len(p), nil
}

func (l *logLines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// wait returns the index of the first line containing want, or an error
// after the deadline.
func (l *logLines) wait(want string, deadline time.Time) (int, error) {
	stop := time.AfterFunc(time.Until(deadline), func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; ; {
		for ; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], want) {
				return i, nil
			}
		}
		if !time.Now().Before(deadline) {
			return -1, fmt.Errorf("timed out waiting for %q", want)
		}
		l.cond.Wait()
	}
}

// Run runs one case on sipht, retrying on another port when the one picked
// was taken meanwhile.
func (r *Sipht) Run(ctx context.Context, cs Case) (*Result, error) {
	var err error
	for range 4 {
		var res *Result
		res, err = r.runOnce(ctx, cs)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		return res, err
	}
	return nil, err
}

func (r *Sipht) runOnce(ctx context.Context, cs Case) (*Result, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	text := cs.Config(port)
	var missing []string
	if r.SkipMissingModules {
		text, missing = stripMissing(text)
	}
	logs := newLogLines()
	srv, err := server.Load(server.Options{Source: []byte(text), SourceName: cs.Name + ".cfg",
		ForceStderr: true, LogWriter: logs})
	if err != nil {
		res := &Result{ConfigError: true, Missing: missing, Stderr: strings.Split(err.Error(), "\n")}
		u := script.Summarize(err)
		if len(u.Other) == 0 {
			for _, m := range []map[string]int{u.Functions, u.PVs, u.Transforms} {
				for k := range m {
					res.Unsupported = append(res.Unsupported, k)
				}
			}
			sort.Strings(res.Unsupported)
		}
		return res, nil
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("sipht did not stop within 15 s")
		}
	}
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("sipht did not start: %w", err)
	case <-time.After(r.RunTimeout):
		_ = stop()
		return nil, errors.New("sipht not ready in time")
	}
	res, err := r.exchange(cs, port, logs)
	if serr := stop(); err == nil && serr != nil {
		err = serr
	}
	if res != nil {
		res.Missing = missing
		res.Stderr = logs.snapshot()
	}
	return res, err
}

// exchange sends the request and the end marker and collects the result.
func (r *Sipht) exchange(cs Case, port int, logs *logLines) (*Result, error) {
	client, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("client socket: %w", err)
	}
	defer client.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	if _, err := client.WriteToUDP([]byte(cs.Request), to); err != nil {
		return nil, fmt.Errorf("sending request: %w", err)
	}
	if _, err := client.WriteToUDP([]byte(MarkerReply("end")), to); err != nil {
		return nil, fmt.Errorf("sending end marker: %w", err)
	}
	end, err := logs.wait("<script>: "+Marker("end"), time.Now().Add(r.RunTimeout))
	if err != nil {
		return nil, fmt.Errorf("%w; log:\n%s", err, Tail(logs.snapshot(), 20))
	}
	lines := logs.snapshot()[:end+1]
	res := &Result{}
	if res.Lines, err = ScriptLines(lines); err != nil {
		return nil, err
	}
	// The replies were written before the worker took the end marker:
	// they are already queued on the client socket.
	buf := make([]byte, 65535)
	for {
		_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
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
