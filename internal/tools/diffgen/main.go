// Command diffgen regenerates the golden files of sipht's differential
// script tests from a real Kamailio.
//
// For every snippet internal/script/testdata/diff/<NNN>_<name>.cfg it builds
// a complete Kamailio configuration around the snippet (see Snippet.Config
// and the README beside the snippets), starts
// `kamailio -DD -E -f <cfg>` listening on a free UDP port of 127.0.0.1,
// sends one fixed OPTIONS request (Request), collects the xlog lines and the
// replies, stops Kamailio and writes <NNN>_<name>.golden.
//
// Usage:
//
//	go run ./internal/tools/diffgen [-only 001,017] [-out dir] [-dir snippets] [-j 2] [-v]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sipht/sipht/internal/tools/diffgen/snippet"
)

// DefaultKamailio is tried when kamailio is not on PATH (Debian installs it
// in /usr/sbin).
const DefaultKamailio = snippet.DefaultKamailio

// SnippetDir is the snippet directory relative to the module root.
const SnippetDir = snippet.Dir

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "diffgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("diffgen", flag.ContinueOnError)
	only := fs.String("only", "", "comma-separated snippet numbers or names to run (default: all)")
	dir := fs.String("dir", "", "snippet directory (default: <module root>/"+SnippetDir+")")
	out := fs.String("out", "", "directory for the golden files (default: the snippet directory)")
	kam := fs.String("kamailio", "", "kamailio binary (default: kamailio on PATH or "+DefaultKamailio+")")
	jobs := fs.Int("j", 2, "snippets run in parallel")
	verbose := fs.Bool("v", false, "print Kamailio's stderr for every snippet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		*dir = filepath.Join(root, SnippetDir)
	}
	if *out == "" {
		*out = *dir
	}
	if *kam == "" {
		p, err := findKamailio()
		if err != nil {
			return err
		}
		*kam = p
	}
	snippets, err := snippet.LoadSnippets(*dir)
	if err != nil {
		return err
	}
	snippets, err = selectSnippets(snippets, *only)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("creating output dir: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r := snippet.NewKamailio(*kam)
	var logMu sync.Mutex
	if *verbose {
		r.Log = func(name string, stderr []string) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(os.Stderr, "==== %s\n%s\n", name, strings.Join(stderr, "\n"))
		}
	}
	results := RunAll(ctx, r, snippets, *jobs)
	var failed []string
	for i, s := range snippets {
		res := results[i]
		if res.Err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", s.Name, res.Err))
			continue
		}
		if err := os.WriteFile(filepath.Join(*out, s.Name+".golden"), []byte(res.Result.Golden()), 0o644); err != nil {
			return fmt.Errorf("writing golden: %w", err)
		}
		fmt.Printf("%s: %d lines%s\n", s.Name, len(res.Result.Lines), configErrNote(res.Result))
	}
	if len(failed) > 0 {
		return errors.New("some snippets failed:\n" + strings.Join(failed, "\n"))
	}
	return nil
}

func configErrNote(r *snippet.Result) string {
	if r.ConfigError {
		return " (config error)"
	}
	return ""
}

// Outcome is the result of one snippet run, or the error that prevented it.
type Outcome struct {
	Result *snippet.Result
	Err    error
}

// RunAll runs the snippets with at most jobs Kamailio instances at a time and
// returns their outcomes in snippet order.
func RunAll(ctx context.Context, r *snippet.Kamailio, snippets []*snippet.Snippet, jobs int) []Outcome {
	if jobs < 1 {
		jobs = 1
	}
	out := make([]Outcome, len(snippets))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, s := range snippets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i].Err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			res, err := r.Run(ctx, s.Case())
			out[i] = Outcome{Result: res, Err: err}
		}()
	}
	wg.Wait()
	return out
}

func selectSnippets(all []*snippet.Snippet, only string) ([]*snippet.Snippet, error) {
	if only == "" {
		return all, nil
	}
	var out []*snippet.Snippet
	for _, want := range strings.Split(only, ",") {
		want = strings.TrimSpace(want)
		found := false
		for _, s := range all {
			if s.Name == want || strings.HasPrefix(s.Name, want+"_") {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no snippet matches %q", want)
		}
	}
	return out, nil
}

func findKamailio() (string, error) {
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p, nil
	}
	if st, err := os.Stat(DefaultKamailio); err == nil && !st.IsDir() {
		return DefaultKamailio, nil
	}
	return "", errors.New("kamailio not found on PATH nor at " + DefaultKamailio + " (apt-get install kamailio kamailio-extra-modules)")
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("go.mod not found above the working directory; use -dir")
		}
		d = parent
	}
}
