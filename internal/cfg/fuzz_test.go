package cfg

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// seedConfigs adds small configs and, when present, Kamailio's own example
// configs to a fuzz corpus.
func seedConfigs(f *testing.F) {
	for _, s := range []string{
		"#!KAMAILIO\n#!define A 1\n#!ifdef A\ndebug=A\n#!else\ndebug=2\n#!endif\nlisten=udp:127.0.0.1:5060\n",
		"request_route { if ($var(a) == 1 && !defined $avp(x)) { xlog(\"a $(var(b){s.len})\\n\"); } else { exit; } }",
		"route[X] { switch($rU) { case \"1\": break; case /\"^2\": return -1; default: drop; } while($i<3) $i=$i+1; }",
		"#!subst \"/a/b/g\"\n#!substdef \"/H/1.2.3.4/\"\nmodparam(\"htable\", \"htable\", \"t=>size=4;\")\nevent_route[htable:mod-init] { $sht(t=>$si) = H; }",
		"include_file \"inc.cfg\"\nimport_file \"none.cfg\"\n!!define X\n/* c /* n */ */ // x\n",
		"request_route { if (src_ip==10.0.0.0/8 || uri == myself || method==INVITE) { forward(uri:host, 5060); } }",
		"flags A:1, B;\ngrp.v = 1 desc \"d\"\nalias=a.b tcp:c:5\n",
		"$(a{b.c,$(d[e]{f.g})})\"\\x41\\101\"'raw'@sel.x[1]%attr $f.x",
	} {
		f.Add([]byte(s))
	}
	var files []string
	filepath.WalkDir("/usr/share/doc/kamailio/examples", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".cfg" && len(files) < 20 {
			files = append(files, p)
		}
		return nil
	})
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

// FuzzPreprocess lexes arbitrary input (directives, includes, defines):
// it must not panic or loop.
func FuzzPreprocess(f *testing.F) {
	seedConfigs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{ReadFile: func(p string) ([]byte, error) {
			if p == "inc.cfg" {
				return data, nil
			}
			return nil, fs.ErrNotExist
		}, Getenv: func(string) (string, bool) { return "x", true }}
		lx := newLexer("f.cfg", data, opts)
		for i := 0; ; i++ {
			if i > 10*len(data)+1000 {
				t.Fatalf("lexer produced more than %d tokens", i)
			}
			if lx.next().Kind == EOF {
				break
			}
		}
	})
}

// FuzzParse parses arbitrary input: no panic, and every error positioned.
func FuzzParse(f *testing.F) {
	seedConfigs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.cfg", data, Options{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist }})
		for _, e := range Errors(err) {
			if ce, ok := e.(*Error); ok && !ce.Pos.IsValid() && ce.Pos.File != "" {
				t.Errorf("error without position: %v", e)
			}
		}
		if file != nil {
			CheckCoreParams(file)
		}
		if len(data) > 0 && data[0] == '$' {
			ParsePV(string(data))
		}
	})
}
