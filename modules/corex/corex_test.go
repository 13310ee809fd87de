package corex_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/modules/corex"
)

func TestFileReadWrite(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, corex.MaxFileRead+1), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f.txt")
	s := modtest.Start(t, []string{"corex"}, "", `request_route {
	file_write("`+f+`", "hello $t_ru"); t_log("write $rc");
	file_read("`+f+`", "$var(x)"); t_log("read $rc [$var(x)]");
	file_read("`+filepath.Join(dir, "missing")+`", "$var(y)"); t_log("missing $rc");
	file_read("`+big+`", "$var(z)"); t_log("too big $rc");
}`)
	c := servertest.Dial(t, s.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
	got := strings.Join(s.Probe.WaitLines(4), "|")
	if got != "write 1|read 1 [hello sip:a@127.0.0.1]|missing -1|too big -1" {
		t.Errorf("got %s", got)
	}
}
