package kamailio

import (
	"errors"
	"os/exec"
	"testing"
)

// Kamcmd runs the real kamcmd against ctl (its -s argument, e.g.
// "unixs:/tmp/x/ctl") and returns its output, stdout and stderr together,
// with its exit error. It fails the test when kamcmd cannot run at all.
func Kamcmd(t testing.TB, ctl string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(KamcmdBinary(t), append([]string{"-s", ctl}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("kamcmd %v: %v", args, err)
	}
	return string(out), err
}

// MustKamcmd is Kamcmd that fails the test when kamcmd exits with an error.
func MustKamcmd(t testing.TB, ctl string, args ...string) string {
	t.Helper()
	out, err := Kamcmd(t, ctl, args...)
	if err != nil {
		t.Fatalf("kamcmd %v: %v\n%s", args, err, out)
	}
	return out
}
