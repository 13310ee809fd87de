// Package compat checks sipht against the configs Kamailio 5.6 ships:
// every one Kamailio accepts parses, and `sipht -c` reports nothing but
// what sipht lacks (modules, parameters, functions, pseudo-variables).
package compat

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/testutil"
	_ "github.com/sipht/sipht/modules/all"
)

const (
	debianCfg   = "/etc/kamailio/kamailio.cfg"
	examplesDir = "/usr/share/doc/kamailio/examples"
)

// Example configs that Kamailio 5.6.3 itself rejects (checked with
// "kamailio -c" on copies whose loadmodule paths were fixed so that module
// loading does not stop it first). sipht must reject them for the same
// reason; the value is a substring of sipht's error.
var rejectedByKamailio = map[string]string{
	// "if (...) route(1)" without ';' before else
	"exec/exec_s5.cfg":     "expected ';' after the function call",
	"exec/exec_s5b.cfg":    "expected ';' after the function call",
	"kamailio/exec_s5.cfg": "expected ';' after the function call",
	// len_gt(max_len): max_len is a keyword no 5.6 rule accepts
	"mixed/acc.cfg":                 `"max_len" can only be used as an argument of forward()`,
	"mixed/dbtext.cfg":              `"max_len" can only be used`,
	"mixed/nathelper.cfg":           `"max_len" can only be used`,
	"mixed/pstn.cfg":                `"max_len" can only be used`,
	"mixed/replicate.cfg":           `"max_len" can only be used`,
	"mixed/serial_183.cfg":          `"max_len" can only be used`,
	"mixed/voicemail.cfg":           `"max_len" can only be used`,
	"mixed/welcome.cfg":             `"max_len" can only be used`,
	"presence/full-no-failover.cfg": `"max_len" can only be used`,
	"presence/no-db.cfg":            `"max_len" can only be used`,
	// unbalanced preprocessor directives
	"pkg/sip-router-basic.cfg": "#!endif without #!ifdef",
	"pkg/sip-router-oob.cfg":   "#!ifdef/#!ifndef without matching #!endif",
}

// Global parameters these configs use that Kamailio 5.6 does not have
// (kamailio -c: "unknown config variable").
var unknownParams = map[string]string{
	"mixed/dbtext.cfg":     "fifo",
	"mixed/flag_reply.cfg": "fifo",
	"mixed/nathelper.cfg":  "fifo",
	"mixed/voicemail.cfg":  "fifo",
	"mixed/welcome.cfg":    "fifo",
	"mixed/snmp.cfg":       "statistics",
}

// Load errors Kamailio 5.6.3 gives too for these configs (beyond syntax):
// $shv without any modparam("pv", "shvset", ...) is refused at start-up
// (the differential snippet 343_cfgerr_* shows it).
var kamailioAlsoRejects = map[string]string{
	"ims/pcscf/kamailio.cfg": `$shv needs modparam("pv", "shvset", ...)`,
}

// Include fragments that their parent includes only under #!ifdef: the
// parent is parsed a second time with these defined so that they are
// checked with the defines they rely on.
var variantDefines = map[string][]string{
	"ims/pcscf/kamailio.cfg": {"WITH_XMLRPC", "WITH_WEBSOCKET"},
}

// readExample reads config files the way the examples expect to be
// installed: gzipped files are uncompressed, a missing include is looked
// for as "<name>.sample" (the IMS examples ship icscf.cfg.sample ...) and
// /usr/local/etc/kamailio/ is the example's own directory.
func readExample(dir string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		data, err := readMaybeGz(p)
		if err == nil {
			return data, nil
		}
		if data, err2 := readMaybeGz(p + ".sample"); err2 == nil {
			return data, nil
		}
		if strings.HasPrefix(p, "/usr/local/etc/kamailio/") {
			return readMaybeGz(filepath.Join(dir, filepath.Base(p)))
		}
		return nil, err
	}
}

func readMaybeGz(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if gz, err2 := os.ReadFile(p + ".gz"); err2 == nil {
			data, err = gunzip(gz)
		}
	}
	if err == nil && strings.HasSuffix(p, ".gz") {
		return gunzip(data)
	}
	return data, err
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// TestKamailioExampleConfigs parses Debian's kamailio.cfg and every example
// config of Kamailio 5.6, expects no syntax error except where Kamailio
// itself rejects the file, loads each as `sipht -c` does (with every
// compiled-in module) and requires that every error names something sipht
// lacks; it logs, per file, what that is.
func TestKamailioExampleConfigs(t *testing.T) {
	var files []string
	if _, err := os.Stat(debianCfg); err == nil {
		files = append(files, debianCfg)
	}
	filepath.WalkDir(examplesDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".cfg") || strings.HasSuffix(p, ".cfg.gz")) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		testutil.Missing(t, "Kamailio example configs", "install the kamailio package (files under "+examplesDir+")")
	}
	type result struct {
		f   *cfg.File
		err error
		// the same file with variantDefines defined
		all    *cfg.File
		allErr error
		with   []string
	}
	results := map[string]result{}
	included := map[string]bool{}
	markIncluded := func(f *cfg.File, dir string) {
		for _, inc := range f.Files[1:] {
			included[inc] = true
			if strings.HasPrefix(inc, "/usr/local/etc/kamailio/") {
				included[filepath.Join(dir, filepath.Base(inc))] = true
			}
		}
	}
	for _, p := range files {
		dir := filepath.Dir(p)
		r := result{}
		r.f, r.err = cfg.ParseFile(p, cfg.Options{ReadFile: readExample(dir)})
		if r.f != nil {
			markIncluded(r.f, dir)
		}
		r.with = variantDefines[strings.TrimPrefix(p, examplesDir+"/")]
		if len(r.with) > 0 {
			var defs []cfg.Define
			for _, w := range r.with {
				defs = append(defs, cfg.Define{Name: w})
			}
			r.all, r.allErr = cfg.ParseFile(p, cfg.Options{ReadFile: readExample(dir), Defines: defs})
			if r.all != nil {
				markIncluded(r.all, dir)
			}
		}
		results[p] = r
	}
	for _, p := range files {
		rel := strings.TrimPrefix(p, examplesDir+"/")
		if included[p] {
			t.Logf("%s: include fragment, checked through the file that includes it", rel)
			continue
		}
		r := results[p]
		t.Run(rel, func(t *testing.T) {
			if want, ok := rejectedByKamailio[rel]; ok {
				if r.err == nil || !strings.Contains(r.err.Error(), want) {
					t.Errorf("Kamailio rejects this file; sipht should report %q, got: %v", want, r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("syntax errors:\n%v", r.err)
			}
			if r.allErr != nil {
				t.Errorf("syntax errors with %s defined:\n%v", strings.Join(r.with, " "), r.allErr)
			}
			var unknown []string
			for _, e := range cfg.CheckCoreParams(r.f) {
				unknown = append(unknown, e.Error())
			}
			if want := unknownParams[rel]; want != "" {
				if len(unknown) != 1 || !strings.Contains(unknown[0], `"`+want+`"`) {
					t.Errorf("want unknown core parameter %q, got %v", want, unknown)
				}
			} else if len(unknown) > 0 {
				t.Errorf("unknown core parameters: %v", unknown)
			}
			var mods []string
			for _, it := range r.f.Items {
				if lm, ok := it.(*cfg.LoadModule); ok {
					mods = append(mods, strings.TrimSuffix(filepath.Base(lm.Path), ".so"))
				}
			}
			_, err := server.Load(server.Options{File: p, ReadFile: readExample(filepath.Dir(p)),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			u := server.Summarize(err)
			for _, e := range u.Other() {
				if want := unknownParams[rel]; want != "" && strings.Contains(e.Error(), `unknown core parameter "`+want+`"`) {
					continue // checked above
				}
				if want := kamailioAlsoRejects[rel]; want != "" && strings.Contains(e.Error(), want) {
					continue
				}
				if !isUnsupported(e) {
					t.Errorf("an error that is not about something sipht lacks: %v", e)
				}
			}
			t.Logf("modules: %s", strings.Join(mods, " "))
			if len(u.Modules) > 0 {
				t.Logf("unsupported modules: %s", strings.Join(u.Modules, " "))
			}
			if len(u.Params) > 0 {
				t.Logf("unsupported module parameters: %s", strings.Join(u.Params, " "))
			}
			t.Logf("unsupported: %s", oneLine(u.Script))
		})
	}
}

// isUnsupported reports whether a load error is about a feature sipht
// does not have (a core keyword, a module parameter value it refuses as
// unsupported) rather than a mistake in the config.
func isUnsupported(e error) bool {
	var ue *script.UnsupportedError
	if errors.As(e, &ue) {
		return true
	}
	msg := e.Error()
	for _, s := range []string{"not supported", "unsupported", "is not loaded"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func oneLine(u script.Unsupported) string {
	var parts []string
	keys := func(m map[string]int) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	if len(u.Functions) > 0 {
		parts = append(parts, "functions: "+strings.Join(keys(u.Functions), " "))
	}
	if len(u.PVs) > 0 {
		parts = append(parts, "PVs: "+strings.Join(keys(u.PVs), " "))
	}
	if len(u.Transforms) > 0 {
		parts = append(parts, "transformations: "+strings.Join(keys(u.Transforms), " "))
	}
	var other []string
	for _, e := range u.Other {
		var ue *script.UnsupportedError
		if errors.As(e, &ue) {
			other = append(other, ue.What)
		}
	}
	sort.Strings(other)
	if len(other) > 0 {
		parts = append(parts, "other: "+strings.Join(dedup(other), "; "))
	}
	return strings.Join(parts, " | ")
}

func dedup(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
