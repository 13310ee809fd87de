// Package diff_test is the sipht side of the differential script suite:
// every snippet of internal/script/testdata/diff runs on the real sipht
// server with exactly the config and request diffgen gives Kamailio
// (internal/tools/diffgen/snippet), and its xlog lines and replies must
// equal the Kamailio golden.
//
// Every snippet is accounted for in one of three ways:
//
//   - it passes;
//   - it is listed in pending.txt with the module or feature sipht still
//     lacks: the test is skipped with that reason, and FAILS as soon as the
//     snippet passes (remove the line then);
//   - it is listed in differences.txt with the row of
//     docs/kamailio-differences.md that explains a deliberate difference:
//     it is compared with <name>.sipht.golden beside the Kamailio golden
//     (SIPHT_DIFF_UPDATE=1 rewrites those from sipht's output; review the
//     diff before committing).
//
// Loadmodule lines of modules sipht does not have yet are left out of the
// config (snippet.Sipht.SkipMissingModules); snippets using them fail to
// load and must be pending.
package diff_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/tools/diffgen/snippet"
	_ "github.com/sipht/sipht/modules/all"
)

var (
	snippetDir = filepath.Join("..", "..", snippet.Dir)
	docPath    = filepath.Join("..", "..", "docs", "kamailio-differences.md")
)

// listFile reads "name rest..." lines (# comments, blank lines ignored).
func listFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if rest == "" {
			t.Errorf("%s:%d: %q needs a reason", path, n, name)
		}
		if _, dup := out[name]; dup {
			t.Errorf("%s:%d: %s listed twice", path, n, name)
		}
		out[name] = rest
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(snippetDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDiffSnippets(t *testing.T) {
	snippets, err := snippet.LoadSnippets(snippetDir)
	if err != nil {
		t.Fatal(err)
	}
	pending := listFile(t, "pending.txt")
	diffs := listFile(t, "differences.txt")
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range snippets {
		names[s.Name] = true
	}
	for n := range pending {
		if !names[n] {
			t.Errorf("pending.txt names %s, which is not a snippet", n)
		}
		if _, ok := diffs[n]; ok {
			t.Errorf("%s is both pending and a difference", n)
		}
	}
	for n, row := range diffs {
		if !names[n] {
			t.Errorf("differences.txt names %s, which is not a snippet", n)
		}
		if !strings.Contains(string(doc), row) {
			t.Errorf("differences.txt: %s points to %q, which docs/kamailio-differences.md does not contain", n, row)
		}
		if _, err := os.Stat(filepath.Join(snippetDir, n+".sipht.golden")); err != nil && os.Getenv("SIPHT_DIFF_UPDATE") != "1" {
			t.Errorf("differences.txt: %s has no %s.sipht.golden", n, n)
		}
	}

	r := snippet.NewSipht()
	r.SkipMissingModules = true
	// Parallel subtests run after this function returns: cancel at cleanup.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	var mu syncCounts
	for _, s := range snippets {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			want := readGolden(t, s.Name+".golden")
			row, isDiff := diffs[s.Name]
			update := isDiff && os.Getenv("SIPHT_DIFF_UPDATE") == "1"
			if isDiff && !update {
				want = readGolden(t, s.Name+".sipht.golden")
			}
			res, err := r.Run(ctx, s.Case())
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			got := res.Golden()
			if update {
				if err := os.WriteFile(filepath.Join(snippetDir, s.Name+".sipht.golden"), []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				want = got
			}
			// A config that failed to load only because of unknown
			// function or PV names cannot be told from one using a module
			// sipht lacks, as long as some are missing.
			ok := got == want && !(res.ConfigError && len(res.Unsupported) > 0 && len(res.Missing) > 0)
			reason, isPending := pending[s.Name]
			switch {
			case ok && isPending:
				mu.add("pass-but-pending")
				t.Errorf("passes now: remove it from test/diff/pending.txt (was pending: %s)", reason)
			case ok && isDiff:
				mu.add("difference")
			case ok:
				mu.add("pass")
			case isPending:
				mu.add("pending")
				t.Skipf("pending: %s (missing modules %v, unsupported %v)", reason, res.Missing, res.Unsupported)
			default:
				mu.add("fail")
				what := "Kamailio's"
				if isDiff {
					what = "the sipht golden (" + row + ")"
				}
				t.Errorf("output differs from %s\n--- want\n%s--- got\n%s--- missing modules %v, unsupported %v\n--- log tail:\n%s",
					what, want, got, res.Missing, res.Unsupported, snippet.Tail(res.Stderr, 12))
			}
		})
	}
	t.Cleanup(func() { t.Logf("differential suite: %s", mu.String()) })
}

type syncCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *syncCounts) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *syncCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []string
	for k := range c.m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c.m[k]))
	}
	return strings.Join(parts, " ")
}
