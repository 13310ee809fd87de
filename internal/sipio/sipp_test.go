package sipio

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
)

// TestSippInterop runs the real SIPp against a server that answers every
// request statelessly with 200: a custom OPTIONS scenario over UDP and TCP,
// and SIPp's built-in uac scenario (INVITE, ACK, BYE) over UDP. All calls
// must succeed.
func TestSippInterop(t *testing.T) {
	sipp := testutil.LookPath(t, "sipp", "/usr/bin/sipp")
	scenario, _ := filepath.Abs("testdata/sipp/options.xml")
	cases := []struct {
		name, transport string
		args            []string
		calls           int
		method          string
	}{
		{"options-udp", "u1", []string{"-sf", scenario}, 300, "OPTIONS"},
		{"options-tcp", "t1", []string{"-sf", scenario}, 300, "OPTIONS"},
		{"uac-udp", "u1", []string{"-sn", "uac", "-d", "0"}, 50, "INVITE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r srvRef
			s, addr := startServer(t, Config{Handler: okHandler(&r), ServerHeader: "sipht test"}, &r)
			port := freePort(t, loopback)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := append([]string{}, tc.args...)
			args = append(args,
				"-t", tc.transport, "-i", "127.0.0.1", "-p", fmt.Sprint(port),
				"-m", fmt.Sprint(tc.calls), "-r", "200", "-l", "50",
				"-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err",
				"-error_file", filepath.Join(t.TempDir(), "err.log"),
				addr.String())
			cmd := exec.CommandContext(ctx, sipp, args...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("sipp %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 2000))
			}
			st := s.Stats()
			if got := st.RequestsIn[tc.method]; got != uint64(tc.calls) {
				t.Fatalf("server saw %d %s for %d calls", got, tc.method, tc.calls)
			}
			t.Logf("%s: %d calls ok; server stats: requests %v, replies %v", tc.name, tc.calls, st.RequestsIn, st.RepliesOut)
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
