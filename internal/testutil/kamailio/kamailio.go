// Package kamailio runs the real Kamailio 5.6 for tests that compare sipht
// with it: it finds the binary and the module directory, writes a config,
// starts Kamailio in the foreground (-DD -E) in its own process group,
// collects its output in a goroutine-safe buffer, waits until it is ready
// and stops it at the end of the test. A missing Kamailio skips the test,
// or fails it with SIPHT_REQUIRE_EXTERNAL=1 (see testutil.Missing).
package kamailio

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
)

// Binary returns the path of the kamailio program or calls testutil.Missing.
func Binary(t testing.TB) string {
	t.Helper()
	return testutil.LookPath(t, "kamailio", "/usr/sbin/kamailio", "/usr/local/sbin/kamailio")
}

// KamcmdBinary returns the path of the kamcmd program or calls
// testutil.Missing.
func KamcmdBinary(t testing.TB) string {
	t.Helper()
	return testutil.LookPath(t, "kamcmd", "/usr/sbin/kamcmd", "/usr/local/sbin/kamcmd")
}

var moduleDirs = []string{"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules", "/usr/lib64/kamailio/modules"}

// ModuleDir returns the directory of Kamailio's modules (without a trailing
// slash) that holds every module named in need ("dmq", "db_sqlite"; sl when
// none), or calls testutil.Missing.
func ModuleDir(t testing.TB, need ...string) string {
	t.Helper()
	if len(need) == 0 {
		need = []string{"sl"}
	}
	if dir := findModuleDir(need); dir != "" {
		return dir
	}
	testutil.Missing(t, "Kamailio modules", strings.Join(need, ".so, ")+".so not found in "+strings.Join(moduleDirs, ", "))
	return ""
}

// Installed reports, without a test at hand, whether the kamailio program
// and its sl module are there.
func Installed() bool {
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		bin = "/usr/sbin/kamailio"
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return false
	}
	return findModuleDir([]string{"sl"}) != ""
}

func findModuleDir(need []string) string {
next:
	for _, dir := range moduleDirs {
		for _, n := range need {
			if _, err := os.Stat(filepath.Join(dir, n+".so")); err != nil {
				continue next
			}
		}
		return dir
	}
	return ""
}

// Options describe a Kamailio to run.
type Options struct {
	// Config is the config text, written to Dir/kamailio.cfg.
	Config string
	// Dir is the runtime directory (-Y), holding the config and the pid
	// file; "" means a new testutil.ShortTempDir.
	Dir string
	// WorkDir is Kamailio's working directory (-w); "" means Dir. Kamailio
	// reads "sqlite:///tmp/x.db" as the path tmp/x.db, which only "/"
	// (Kamailio's default) resolves.
	WorkDir string
	// Args are command-line arguments after the common ones (e.g. "-m",
	// "64" for the shared memory size).
	Args []string
	// Ready is polled every 50 ms after the start until it returns true;
	// nil means ready as soon as the process runs.
	Ready func(p *Process) bool
	// Timeout bounds the wait for Ready (default 15 s).
	Timeout time.Duration
	// Settle is a pause after Ready, for every worker to finish its
	// start-up.
	Settle time.Duration
	// Quiet leaves Kamailio's output out of the log of a failed test.
	Quiet bool
}

// Process is a running Kamailio.
type Process struct {
	// Dir is the runtime directory; ConfigFile the config's path in it.
	Dir, ConfigFile string

	cmd  *exec.Cmd
	done chan struct{}
	log  *testutil.Buffer
}

// ErrExited is what Wait returns when Kamailio exits before it is ready.
var ErrExited = errors.New("kamailio exited at start-up")

// Launch writes the config and starts Kamailio without waiting for it; it
// is stopped at the end of the test, and its output is logged then when the
// test failed.
func Launch(t testing.TB, o Options) *Process {
	t.Helper()
	bin := Binary(t)
	if o.Dir == "" {
		o.Dir = testutil.ShortTempDir(t)
	}
	p := &Process{Dir: o.Dir, ConfigFile: filepath.Join(o.Dir, "kamailio.cfg"), done: make(chan struct{}), log: &testutil.Buffer{}}
	if err := os.WriteFile(p.ConfigFile, []byte(o.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.WorkDir == "" {
		o.WorkDir = o.Dir
	}
	args := append([]string{"-DD", "-E", "-f", p.ConfigFile, "-Y", o.Dir, "-w", o.WorkDir, "-P", filepath.Join(o.Dir, "kamailio.pid")}, o.Args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() && !o.Quiet {
			t.Logf("kamailio (%s) output (last 16 KiB):\n%s", p.ConfigFile, testutil.Tail(p.Log(), 16384))
		}
	})
	return p
}

// Start launches Kamailio and waits until o.Ready, failing the test when
// Kamailio exits or is not ready in time.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	p := Launch(t, o)
	if err := p.Wait(o.Ready, o.Timeout); err != nil {
		t.Fatalf("%v:\n%s\nconfig:\n%s", err, p.Log(), o.Config)
	}
	time.Sleep(o.Settle)
	return p
}

// Wait polls ready every 50 ms until it returns true (nil: at once), and
// returns ErrExited when Kamailio exits first, or an error after timeout
// (0: 15 s).
func (p *Process) Wait(ready func(*Process) bool, timeout time.Duration) error {
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return ErrExited
		default:
		}
		if ready == nil || ready(p) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kamailio not ready after %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns Kamailio's output so far.
func (p *Process) Log() string { return p.log.String() }

// Exited is closed when the Kamailio process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Signal sends sig to Kamailio's main process.
func (p *Process) Signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// Terminate sends SIGTERM to Kamailio's main process (which saves the
// dbmode=1 htables on the way out) and waits for it to exit, failing the
// test after timeout.
func (p *Process) Terminate(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("kamailio did not stop within %v of SIGTERM:\n%s", timeout, testutil.Tail(p.Log(), 16384))
	}
}

// Stop stops Kamailio's process group with SIGTERM, then SIGKILL after
// 5 s, and waits for it. Stopping a stopped Kamailio does nothing.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}
