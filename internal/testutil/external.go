// Package testutil holds helpers shared by the tests of several packages:
// finding external programs and servers (sipp, kamailio, kamcmd, MariaDB,
// PostgreSQL) and deciding whether their absence skips or fails a test.
package testutil

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns "skip because X is
// missing" into a test failure. CI (.ci/run) sets it to 1 so that tests
// needing sipp, Kamailio or a database server really run there.
const RequireEnv = "SIPHT_REQUIRE_EXTERNAL"

// Required reports whether missing external dependencies must fail tests.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Missing skips the test with a clear message, or fails it when
// SIPHT_REQUIRE_EXTERNAL=1.
func Missing(t testing.TB, what, why string) {
	t.Helper()
	msg := what + " is not available (" + why + ")"
	if Required() {
		t.Fatalf("%s; %s=1 requires it", msg, RequireEnv)
	}
	t.Skipf("%s; skipping (set %s=1 to make this a failure)", msg, RequireEnv)
}

// LookPath returns the absolute path of an external program, or calls
// Missing when it is not installed. Extra candidate paths (e.g.
// /usr/sbin/kamcmd, which is not on every user's PATH) are tried after PATH.
func LookPath(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	Missing(t, name, "not found on PATH or in "+joinOr(candidates))
	return ""
}

// Dial checks that a TCP server answers at addr, or calls Missing.
func Dial(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, what, "nothing answers at "+addr+": "+err.Error())
		return
	}
	c.Close()
}

func joinOr(s []string) string {
	if len(s) == 0 {
		return "no other place"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}
