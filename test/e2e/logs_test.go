package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogJSON: the sipht binary on examples/seed.cfg with Kamailio's
// --log-engine=json writes every log line as one JSON object, the
// script's xlog lines and the server's own alike, with the field names of
// Kamailio's json log engine (level, module, message, pid).
func TestLogJSON(t *testing.T) {
	sippBin(t)
	srv := startServer(t, startOptions{kind: siphtServer, bin: siphtBin(t),
		cfg: filepath.Join(repoRoot(t), "examples", "seed.cfg"), args: []string{"--log-engine=json"}})
	runSteps(t, srv,
		optionsStep("127.0.0.2", codes(200, 1)),
		registerStep("127.0.0.3", "alice", "wrong", 7, "", codes(401, 6, 429, 2)),
	)
	srv.newLogLines(9)
	srv.stop(t)

	b, err := os.ReadFile(srv.logPath)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ level, module, message string }
	var got []rec
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("not a JSON line: %q", sc.Text())
			continue
		}
		if pid, _ := m["pid"].(float64); int(pid) != srv.cmd.Process.Pid {
			t.Errorf("pid %v in %q", m["pid"], sc.Text())
		}
		l, _ := m["level"].(string)
		mod, _ := m["module"].(string)
		msg, _ := m["message"].(string)
		got = append(got, rec{l, mod, msg})
	}
	has := func(want rec) {
		t.Helper()
		for _, r := range got {
			if r == want {
				return
			}
		}
		t.Errorf("no log record %+v in\n%s", want, b)
	}
	has(rec{"INFO", "<core>", "listening"})
	has(rec{"INFO", "ctl", "listening"})
	has(rec{"ERROR", "<script>", "MessageCount is 1"}) // xlog (default level L_ERR)
	has(rec{"ERROR", "<script>", "MessageCount is 8"})
	has(rec{"ERROR", "<script>", "127.0.0.3 is back again, rate limiting them..."})
	has(rec{"INFO", "<core>", "stopping"})
	if n := strings.Count(string(b), `"message":"MessageCount is `); n != 9 {
		t.Errorf("%d MessageCount lines, want 9 (1 OPTIONS, 8 REGISTERs)", n)
	}
}
