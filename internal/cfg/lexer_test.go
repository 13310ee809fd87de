package cfg

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
)

// tokens lexes src completely and returns "kind:text" strings.
func lexAll(t *testing.T, src string, opts Options) ([]string, ErrorList) {
	t.Helper()
	lx := newLexer("t.cfg", []byte(src), opts)
	var out []string
	for i := 0; i < 10000; i++ {
		tok := lx.next()
		if tok.Kind == EOF {
			break
		}
		s := tok.Text
		if tok.Kind == NUMBER {
			s = tok.Raw + "=" + itoa(tok.Int)
		}
		out = append(out, tokName(tok.Kind)+":"+s)
	}
	return out, lx.errs
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func tokName(k TokKind) string {
	switch k {
	case IDENT:
		return "id"
	case NUMID:
		return "numid"
	case NUMBER:
		return "num"
	case STRING:
		return "str"
	case PVAR:
		return "pv"
	case AVPATTR:
		return "attr"
	case SELECT:
		return "sel"
	case EVNAME:
		return "ev"
	case KEYWORD:
		return "kw"
	}
	return "op"
}

func TestLexer(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // space-separated kind:text
	}{
		{"numbers", "10 0x1A 017 101b 0 08 3des yes no on off true false inet inet6",
			"num:10=10 num:0x1A=26 num:017=15 num:101b=5 num:0=0 numid:08 numid:3des num:yes=1 num:no=0 num:on=1 num:off=0 num:true=1 num:false=0 num:inet=2 num:inet6=10"},
		{"strings", `"a\tb" "c"  "d" 'raw\n' "\x41\101\"\\"`,
			"str:a\tbcd str:raw\\n str:AA\"\\"},
		{"string concat across lines", "\"a\"\n  \"b\"", "str:ab"},
		{"pvs", "$var(x) $si $(avp(x)[1]{s.len}) $sht(a=>$si) $rc $? $retcode $rcx",
			"pv:$var(x) pv:$si pv:$(avp(x)[1]{s.len}) pv:$sht(a=>$si) pv:$rc pv:$? pv:$retcode pv:$rc id:x"},
		{"ser attrs in max mode", "$f.x $tu.uid $x[1] %avp",
			"attr:$f.x attr:$tu.uid attr:$x[1] attr:%avp"},
		{"kamailio mode pvs", "#!KAMAILIO\n$x[1]", "pv:$x op:[ num:1=1 op:]"},
		{"select", "@via[1].branch @msg.header[\"X\"]", "sel:@via[1].branch sel:@msg.header[\"X\"]"},
		{"operators", "== != =~ = += < <= << > >= >> && || & | ! ~ ^ + - * / mod and or not eq ne ieq ine (int) (str)",
			"op:== op:!= op:=~ op:= op:+= op:< op:<= op:<< op:> op:>= op:>> op:&& op:|| op:& op:| op:! op:~ op:^ op:+ op:- op:* op:/ op:mod op:and op:or op:not op:eq op:ne op:ieq op:ine op:(int) op:(str)"},
		{"keywords", "route request_route if uri:host msg:len myself forward debug listen",
			"kw:route kw:request_route kw:if kw:uri:host kw:msg:len kw:myself kw:forward kw:debug kw:listen"},
		{"event route name", "event_route [ htable:expired:my-table ] {", "kw:event_route op:[ ev:htable:expired:my-table op:] op:{"},
		{"comments", "a # c\nb // c\nc /* x /* nested */ y */ d", "id:a id:b id:c id:d"},
		{"escaped newline", "a \\\n b", "id:a id:b"},
		{"define", "#!define X 5\n#!define S \"str\"\n#!define E\nX S E Y \"X\"", "num:5=5 str:str id:Y str:X"},
		{"define continued", "#!define X 1 \\\n+ 2\nX", "num:1=1 op:+ num:2=2"},
		{"define not for keywords", "#!define route 1\nroute", "kw:route"},
		{"nested define", "#!define A B\n#!define B 7\nA", "num:7=7"},
		{"trydef redefine", "#!define A 1\n#!trydef A 2\n#!trydef B 3\n#!redefine A 4\nA B", "num:4=4 num:3=3"},
		{"ifdef", "#!define X\n#!ifdef X\na\n#!else\nb\n#!endif\n#!ifndef X\nc\n#!else\nd\n#!endif", "id:a id:d"},
		{"nested ifdef skip", "#!ifdef NO\n#!ifdef X\na\n#!else\nb\n#!endif\nc\n#!else\nd\n#!endif", "id:d"},
		{"!! prefix", "!!define X 3\n!!ifdef X\nX\n!!endif", "num:3=3"},
		{"#! not a directive is a comment", "#!foo bar\na", "id:a"},
		{"endif with comment is a comment", "#!ifdef X\na\n#!endif // c\nb\n#!endif\nc", "id:c"},
		{"subst", "#!subst \"/foo/bar/g\"\nx \"foo foo\" foo $var(foo)", "id:x str:bar bar id:foo pv:$var(bar)"},
		{"substdef", "#!substdef \"/HOST/example.com/\"\nHOST \"sip:HOST\"", "id:example op:. id:com str:sip:example.com"},
		{"substdef with dots", "#!substdef \"/HOST/1.2.3.4/\"\nHOST", "num:1=1 op:. num:2=2 op:. num:3=3 op:. num:4=4"},
		{"sipht marker", "#!SIPHT\n$x[1]", "pv:$x op:[ num:1=1 op:]"},
		{"SIPHT defined", "#!ifdef SIPHT\nyes1\n#!endif\n#!ifdef KAMAILIO_5_6\nk\n#!endif", "id:yes1 id:k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := lexAll(t, tt.src, Options{})
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("\n got %s\nwant %s", g, tt.want)
			}
		})
	}
}

func TestLexerCommandLineDefines(t *testing.T) {
	d1, err := ParseDefineArg("WITH_AUTH")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := ParseDefineArg("DBURL=\"sqlite:///x\"")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDefineArg("BAD-NAME"); err == nil {
		t.Error("BAD-NAME accepted")
	}
	got, errs := lexAll(t, "#!ifdef WITH_AUTH\na\n#!endif\nDBURL", Options{Defines: []Define{d1, d2}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if g := strings.Join(got, " "); g != "id:a str:sqlite:///x" {
		t.Errorf("got %s", g)
	}
	// a file #!define of a name given with -A is an error, as in Kamailio
	_, errs = lexAll(t, "#!define WITH_AUTH 1\n", Options{Defines: []Define{d1}})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "already defined") {
		t.Errorf("errors = %v", errs)
	}
}

func TestLexerErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unterminated string", "a\n  \"abc", "t.cfg:2:3: unterminated string"},
		{"unterminated comment", "/* x", "t.cfg:1:1: unterminated comment"},
		{"define twice", "#!define A 1\n#!define A 2\n", "t.cfg:2:10: #!define A: already defined"},
		{"dash in define", "#!define A-B 1\n", "t.cfg:1:10: #!define A-: '-' not allowed"},
		{"missing endif", "a\n#!ifdef X\nb\n", "t.cfg:2:1: #!ifdef/#!ifndef without matching #!endif"},
		{"extra endif", "#!endif\n", "t.cfg:1:1: #!endif without #!ifdef"},
		{"unterminated pv", "$var(x", "t.cfg:1:1: unterminated pseudo-variable"},
		{"bad event route", "event_route[1x]", "invalid event route name"},
		{"recursive define", "#!define A A\nA", "expansion too deep"},
		{"include without quotes", "include_file x.cfg\n", "must be between double quotes"},
		{"bad subst", "#!subst \"/a/b\"\n", "#!subst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := lexAll(t, tt.src, Options{})
			if len(errs) == 0 {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("error %q does not contain %q", errs[0], tt.want)
			}
		})
	}
}

func mapFS(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestInclude(t *testing.T) {
	files := map[string]string{
		"/etc/k/main.cfg":      "a\ninclude_file \"sub/one.cfg\"\nimport_file \"missing.cfg\"\n#!include_file \"/etc/k/two.cfg\"\nd",
		"/etc/k/sub/one.cfg":   "#!define FROM_ONE 1\nb\ninclude_file \"inner.cfg\"",
		"/etc/k/sub/inner.cfg": "bb",
		"/etc/k/two.cfg":       "FROM_ONE",
	}
	opts := Options{ReadFile: mapFS(files)}
	lx := newLexer("/etc/k/main.cfg", []byte(files["/etc/k/main.cfg"]), opts)
	var got []string
	for {
		tok := lx.next()
		if tok.Kind == EOF {
			break
		}
		got = append(got, tok.Text+"@"+tok.Pos.String())
	}
	if len(lx.errs) > 0 {
		t.Fatal(lx.errs)
	}
	want := "a@/etc/k/main.cfg:1:1 b@/etc/k/sub/one.cfg:2:1 bb@/etc/k/sub/inner.cfg:1:1 1@/etc/k/two.cfg:1:1 d@/etc/k/main.cfg:5:1"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("\n got %s\nwant %s", g, want)
	}
	// a missing include_file is an error naming the file
	_, err := Parse("/etc/k/x.cfg", []byte("include_file \"nope.cfg\"\n"), opts)
	if err == nil || !strings.Contains(err.Error(), "/etc/k/x.cfg:1:1: include_file \"nope.cfg\": cannot open") {
		t.Errorf("err = %v", err)
	}
	// include loops stop at the depth limit
	loop := map[string]string{"/l.cfg": "include_file \"/l.cfg\"\n"}
	_, err = Parse("/l.cfg", []byte(loop["/l.cfg"]), Options{ReadFile: mapFS(loop)})
	if err == nil || !strings.Contains(err.Error(), "too many nested includes") {
		t.Errorf("err = %v", err)
	}
}

func TestDefenv(t *testing.T) {
	env := map[string]string{"HOME_IP": "10.0.0.1", "HOSTNAME": "box"}
	opts := Options{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	got, errs := lexAll(t, "#!defenv IP=HOME_IP\n#!defenvs HOSTNAME\n#!trydefenv X=NOPE\nIP HOSTNAME X", opts)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := "num:10=10 op:. num:0=0 op:. num:0=0 op:. num:1=1 str:box id:X"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("\n got %s\nwant %s", g, want)
	}
	_, errs = lexAll(t, "#!defenv NOPE\n", opts)
	if len(errs) == 0 {
		t.Error("#!defenv of an unset variable accepted")
	}
}

func TestErrorList(t *testing.T) {
	l := ErrorList{Errorf(Pos{File: "f", Line: 1, Col: 2}, "one"), errors.New("two")}
	if l.Error() != "f:1:2: one\ntwo" {
		t.Errorf("Error() = %q", l.Error())
	}
	var e *Error
	if !errors.As(error(l), &e) || e.Msg != "one" {
		t.Error("errors.As does not find *Error")
	}
	if len(Errors(l)) != 2 || Errors(nil) != nil {
		t.Error("Errors")
	}
}
