package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// TestExamplesKamailioCheck checks that every config in examples/ parses and
// initialises on the real Kamailio 5.6 (kamailio -c), unmodified.
func TestExamplesKamailioCheck(t *testing.T) {
	bin := kamailio.Binary(t)
	cfgs, err := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*.cfg"))
	if err != nil || len(cfgs) == 0 {
		t.Fatalf("no configs in examples/ (%v)", err)
	}
	for _, cfg := range cfgs {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-c", "-f", cfg,
				"-A", "SIP_PORT="+strconv.Itoa(testutil.FreeUDPPort(t, "127.0.0.1")),
				"-A", "HTTP_PORT="+strconv.Itoa(testutil.FreeTCPPort(t, "127.0.0.1")))
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "config file ok") {
				t.Fatalf("kamailio -c -f %s: %v\n%s", cfg, err, lastLines(string(out), 40))
			}
		})
	}
}
