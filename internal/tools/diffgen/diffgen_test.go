package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/tools/diffgen/snippet"
)

// snippetDir is the snippet directory seen from this package's directory.
var snippetDir = filepath.Join("..", "..", "script", "testdata", "diff")

// minSnippets is the size the differential suite must keep (issue 3).
const minSnippets = 150

func loadAll(t *testing.T) []*snippet.Snippet {
	t.Helper()
	snippets, err := snippet.LoadSnippets(snippetDir)
	if err != nil {
		t.Fatal(err)
	}
	return snippets
}

// TestEverySnippetHasGolden checks the committed suite is complete and
// consistent without needing Kamailio.
func TestEverySnippetHasGolden(t *testing.T) {
	snippets := loadAll(t)
	if len(snippets) < minSnippets {
		t.Errorf("only %d snippets, want at least %d", len(snippets), minSnippets)
	}
	names := map[string]bool{}
	for _, s := range snippets {
		names[s.Name] = true
		b, err := os.ReadFile(filepath.Join(snippetDir, s.Name+".golden"))
		if err != nil {
			t.Errorf("%s: no golden: %v", s.Name, err)
			continue
		}
		g := string(b)
		if g != "" && !strings.HasSuffix(g, "\n") {
			t.Errorf("%s.golden: last line lacks its newline", s.Name)
		}
		isCfgErr := g == snippet.ConfigErrorLine+"\n"
		if wantErr := strings.Contains(s.Name, "_cfgerr_"); wantErr != isCfgErr {
			t.Errorf("%s: name says config error = %v, golden says %v", s.Name, wantErr, isCfgErr)
		}
		for _, l := range strings.Split(strings.TrimSuffix(g, "\n"), "\n") {
			if strings.Contains(l, snippet.MarkerPrefix) || snippet.LogPrefixRE.MatchString(l) {
				t.Errorf("%s.golden: harness or log prefix text leaked into line %q", s.Name, l)
			}
		}
		if strings.Contains(g, snippet.ConfigErrorLine) && !isCfgErr {
			t.Errorf("%s.golden: %s must be the only line", s.Name, snippet.ConfigErrorLine)
		}
	}
	goldens, err := filepath.Glob(filepath.Join(snippetDir, "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		// <name>.sipht.golden files record sipht's deliberate differences
		// (test/diff checks them against docs/kamailio-differences.md).
		n := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(g), ".golden"), ".sipht")
		if !names[n] {
			t.Errorf("golden %s has no snippet", filepath.Base(g))
		}
	}
}

// TestGoldensMatchKamailio regenerates every golden with the real Kamailio
// and compares: this is what proves the goldens are true.
func TestGoldensMatchKamailio(t *testing.T) {
	kam := testutil.LookPath(t, "kamailio", DefaultKamailio)
	snippets := loadAll(t)
	if testing.Short() && !testutil.Required() {
		snippets = snippets[:10]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := snippet.NewKamailio(kam)
	outs := RunAll(ctx, r, snippets, 2)
	tmp := t.TempDir()
	for i, s := range snippets {
		o := outs[i]
		if o.Err != nil {
			t.Errorf("%s: %v", s.Name, o.Err)
			continue
		}
		got := o.Result.Golden()
		if err := os.WriteFile(filepath.Join(tmp, s.Name+".golden"), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(snippetDir, s.Name+".golden"))
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if got != string(want) {
			t.Errorf("%s: Kamailio now prints\n%s\ncommitted golden is\n%s\nKamailio stderr (tail):\n%s",
				s.Name, got, want, snippet.Tail(o.Result.Stderr, 15))
		}
	}
}
