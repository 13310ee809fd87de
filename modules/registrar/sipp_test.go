package registrar_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
)

// sippRoute: what the seed does with a REGISTER (flags: the challenge's).
func sippRoute(flags string) string {
	return `
request_route {
	if (!auth_check("127.0.0.1", "subscriber", "1")) {
		auth_challenge("127.0.0.1", "` + flags + `");
		exit;
	}
	save("location");
}
`
}

// runSippRegister registers alice with sipp's [authentication] (a real
// UA's digest code) and returns the status codes sipp received.
func runSippRegister(t *testing.T, target, password string, tries int) []int {
	t.Helper()
	bin := testutil.LookPath(t, "sipp", "/usr/bin/sipp")
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	scenario, err := filepath.Abs(filepath.Join("..", "..", "test", "e2e", "sipp", "register.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	port := testutil.FreeUDPPort(t, "127.0.0.1")
	cmd := exec.CommandContext(ctx, bin, "-sf", scenario, "-m", "1", "-l", "1", "-nr", "-nostdin",
		"-recv_timeout", "4000", "-timeout", "20s", "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-trace_msg", "-message_file", trace,
		"-s", "alice", "-au", "alice", "-ap", password, "-set", "tries", strconv.Itoa(tries), target)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatalf("sipp: no trace: %v\n%s", err, out)
	}
	var codes []int
	for _, m := range regexp.MustCompile(`(?m)^SIP/2\.0 (\d{3}) `).FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[1])
		codes = append(codes, n)
	}
	return codes
}

// TestSippRegister: sipp's digest implementation registers against sipht
// and against Kamailio with the same results (MD5 without and with qop).
func TestSippRegister(t *testing.T) {
	for _, tc := range []struct {
		name, flags, password string
		tries                 int
		want                  string
	}{
		{"md5", "0", "secret", 1, "[401 200]"},
		{"md5 qop=auth", "1", "secret", 1, "[401 200]"},
		{"wrong password", "1", "wrong", 2, "[401 401 401]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := `modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
`
			kdir, sdir := t.TempDir(), t.TempDir()
			for _, d := range []string{kdir, sdir} {
				seedDBRealm(t, d, "127.0.0.1")
			}
			k := startKamailio(t, kamailioBase(params)+sippRoute(tc.flags), kdir)
			s := servertest.Start(t, siphtBase(sdir, params)+sippRoute(tc.flags))
			kc := fmtCodes(runSippRegister(t, k, tc.password, tc.tries))
			sc := fmtCodes(runSippRegister(t, s.UDP, tc.password, tc.tries))
			if kc != tc.want || sc != tc.want {
				t.Errorf("kamailio %s, sipht %s, want %s", kc, sc, tc.want)
			}
		})
	}
}

func fmtCodes(c []int) string {
	s := "["
	for i, n := range c {
		if i > 0 {
			s += " "
		}
		s += strconv.Itoa(n)
	}
	return s + "]"
}
