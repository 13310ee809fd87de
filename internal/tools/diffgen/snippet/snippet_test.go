package snippet

import (
	"strings"
	"testing"
)

func TestParseSnippet(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string
		tables  int
		body    int
		routes  []string
	}{
		{name: "plain", text: "xlog(\"a\\n\");\n", body: 1},
		{name: "tables", text: "#!table a=>size=4\n#!table b=>initval=0\nxlog(\"x\\n\");\n", tables: 2, body: 1},
		{name: "routes", text: "route(A);\n#!route A\nreturn 1;\n#!route 2\nreturn 2;\n", body: 1, routes: []string{"A", "2"}},
		{name: "late table", text: "xlog(\"x\\n\");\n#!table a=>size=4\n", wantErr: "must come first"},
		{name: "define", text: "#!define X 1\n", wantErr: "not allowed"},
		{name: "bang bang", text: "!!define X 1\n", wantErr: "not allowed"},
		{name: "bad route", text: "#!route a-b\n", wantErr: "bad route name"},
		{name: "dup route", text: "#!route A\n#!route A\n", wantErr: "defined twice"},
		{name: "empty table", text: "#!table\n", wantErr: "needs a definition"},
		{name: "quoted table", text: "#!table a=>x=\"1\"\n", wantErr: "quotes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSnippet(tt.name, tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Tables) != tt.tables || len(s.Body) != tt.body || len(s.Routes) != len(tt.routes) {
				t.Fatalf("got %d tables, %d body lines, %d routes", len(s.Tables), len(s.Body), len(s.Routes))
			}
			for i, r := range tt.routes {
				if s.Routes[i].Name != r {
					t.Errorf("route %d = %q, want %q", i, s.Routes[i].Name, r)
				}
			}
		})
	}
}

// TestConfigShape pins the documented config layout the engine's runner
// mirrors (README.md beside the snippets).
func TestConfigShape(t *testing.T) {
	s, err := ParseSnippet("000_x", "#!table a=>size=4\n$var(x) = 1;\n#!route R\nreturn 2;\n")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config(12345)
	for _, want := range []string{
		"log_stderror=yes\n", "children=1\n", "listen=udp:127.0.0.1:12345\n",
		"loadmodule \"sl.so\"\n", "loadmodule \"maxfwd.so\"\n",
		"modparam(\"htable\",\"htable\",\"a=>size=4\")\n",
		"\nrequest_route {\n$var(x) = 1;\nexit;\n}\n",
		"\nroute[R] {\nreturn 2;\n}\n",
		"reply_route {\nxlog(\"L_ERR\", \"" + MarkerPrefix + "$ci@@\\n\");\ndrop;\n}\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "debug=") {
		t.Error("config must keep Kamailio's default debug level")
	}
	if strings.Contains(Request(), "12345") {
		t.Error("request text must not depend on the port")
	}
}

func TestGoldenRendering(t *testing.T) {
	r := &Result{Lines: []string{"a", "b"}, Replies: []string{"404 Not Here"}}
	if got, want := r.Golden(), "a\nb\n!reply 404 Not Here\n"; got != want {
		t.Errorf("Golden() = %q, want %q", got, want)
	}
	if got := (&Result{ConfigError: true}).Golden(); got != "!config-error\n" {
		t.Errorf("config error golden = %q", got)
	}
	if got := (&Result{}).Golden(); got != "" {
		t.Errorf("empty golden = %q", got)
	}
	for line, want := range map[string]string{
		" 1(4242) ERROR: <script>: hello":                           "hello",
		"12(7) WARNING: <script>: x=1":                              "x=1",
		" 1(4242) CRITICAL: <script>: ":                             "",
		" 0(1) ERROR: <core> [x.c:1]: nope":                         "",
		" 1(13007) ERROR: {1 1 OPTIONS c1} <script>: hello OPTIONS": "{1 1 OPTIONS c1} hello OPTIONS",
	} {
		got, _ := ScriptText(line)
		if got != want {
			t.Errorf("ScriptLogRE(%q) = %q, want %q", line, got, want)
		}
	}
}

// FuzzParseSnippet: any text either parses or gives an error, and a parsed
// snippet always renders a config that contains its body.
func FuzzParseSnippet(f *testing.F) {
	f.Add("#!table a=>size=4\nxlog(\"x\\n\");\n#!route R\nreturn 1;\n")
	f.Add("#!route\n")
	f.Add("!!x\n#!table\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSnippet("fuzz", text)
		if err != nil {
			return
		}
		cfg := s.Config(1)
		for _, l := range s.Body {
			if !strings.Contains(cfg, l) {
				t.Fatalf("body line %q missing from config", l)
			}
		}
		for _, tb := range s.Tables {
			if strings.ContainsAny(tb, "\"\\") {
				t.Fatalf("table definition %q escapes its quotes", tb)
			}
		}
	})
}
