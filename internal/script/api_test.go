package script_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/script/scripttest"
)

func compile(t *testing.T, reg *script.Registry, src string) (*script.Program, error) {
	t.Helper()
	f, err := cfg.Parse("a.cfg", []byte(src), cfg.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return script.Compile(f, reg, script.Options{Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
}

// Kamailio wraps at 32 bits; sipht does not (docs/kamailio-differences.md).
func TestIntegersAre64Bit(t *testing.T) {
	got, err := scripttest.RunSnippet(`$var(x) = 2147483647 + 1; $var(y) = 3000000000; $var(z) = 1 << 33;
xlog("$var(x) $var(y) $var(z)\n");`, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Kamailio 5.6.3 prints "-2147483648 -1294967296 2"
	if g := strings.Join(got, " "); g != "2147483648 3000000000 8589934592" {
		t.Errorf("got %q", g)
	}
}

func TestValueConversions(t *testing.T) {
	for _, tt := range []struct {
		s string
		n int64
	}{{"", 0}, {"12", 12}, {"-12", -12}, {"+12", 12}, {"0x1A", 26}, {"0X1a", 26}, {" 12", 0}, {"12abc", 0}, {"abc", 0}, {"-", 0}, {"99999999999999999999", 0}} {
		if got := script.StrToInt(tt.s); got != tt.n {
			t.Errorf("StrToInt(%q) = %d, want %d", tt.s, got, tt.n)
		}
	}
	if script.Null.String() != "<null>" || script.Int(-5).AsString() != "-5" || script.Str("7").AsInt() != 7 || script.Null.AsInt() != 0 {
		t.Error("conversions")
	}
	if !script.Null.IsNull() || script.Int(0).IsNull() || script.Str("").IsNull() {
		t.Error("IsNull")
	}
}

// Kamailio's parse-time type errors (§9.4): int-constant OP "string".
func TestTypeErrors(t *testing.T) {
	reg := scripttest.NewEnv().Reg
	bad := []string{`10 == "10"`, `0 + "0x1A"`, `"a" < "b"`, `"9" < 10`, `"a" - 1`, `!"x"`, `strlen(5)`,
		`defined 5`, `5 == $null`, `1 eq "1"`, `5 =~ "5"`, `"a" && 1`}
	for _, e := range bad {
		_, err := compile(t, reg, "request_route {\n $var(x) = "+e+";\n}\n")
		if err == nil || !strings.Contains(err.Error(), "a.cfg:2:") || !strings.Contains(err.Error(), "type mismatch") {
			t.Errorf("%s: err = %v", e, err)
		}
	}
	good := []string{`"10" == 10`, `"a" + 1`, `$var(a) + "x"`, `"a" eq "b"`, `$var(s) < 10`, `strlen("x")`, `defined $var(x)`}
	for _, e := range good {
		if _, err := compile(t, reg, "request_route {\n $var(x) = "+e+";\n}\n"); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
}

func TestCompileErrorsAreAllReported(t *testing.T) {
	reg := scripttest.NewEnv().Reg
	src := `request_route {
	foo(1);
	if (bar() && $nope(x) == 1) { route(MISSING); }
	$rc = 1;
	$(var(x){s.len}) = 2;
	xlog("$(var(x){s.nosuch})");
	sl_send_reply("99", "x");
	xlog("a", "b", "c");
}
route[R] { }
route[R] { }
`
	_, err := compile(t, reg, src)
	if err == nil {
		t.Fatal("no error")
	}
	msgs := err.Error()
	for _, want := range []string{
		"a.cfg:2:2: unknown function foo() with 1 argument",
		"a.cfg:3:6: unknown function bar() with 0 arguments",
		"a.cfg:3:15: unknown pseudo-variable $nope in $nope(x)",
		"a.cfg:3:32: route(MISSING): no route[MISSING] is defined",
		"a.cfg:4:2: $rc: read only pseudo-variable in assignment left side",
		"a.cfg:5:2: $(var(x){s.len}): pseudo-variable with transformations in assignment left side",
		"a.cfg:6:7: unknown transformation {s.nosuch}",
		"a.cfg:7:16: sl_send_reply(): invalid reply code 99",
		"a.cfg:8:2: xlog() takes [1..2] argument(s), got 3",
		"a.cfg:11:1: duplicate route[R] (first defined at a.cfg:10:1)",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("missing %q in:\n%s", want, msgs)
		}
	}
	u := script.Summarize(err)
	if u.Functions["foo/1"] != 1 || u.Functions["bar/0"] != 1 || u.PVs["nope"] != 1 || u.Transforms["s.nosuch"] != 1 {
		t.Errorf("summary: %+v", u)
	}
	var ufe *script.UnknownFunctionError
	if !errors.As(err, &ufe) || ufe.Name != "foo" || ufe.Pos.Line != 2 {
		t.Errorf("errors.As: %+v", ufe)
	}
}

func TestRegistry(t *testing.T) {
	reg := script.NewRegistry()
	ok := func(fc *script.FixupCtx) (script.Handler, error) { return func(*script.Ctx) int { return 1 }, nil }
	if err := reg.AddFunc(script.Func{Name: "f", MinArgs: 0, MaxArgs: 1, Fixup: ok}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddFunc(script.Func{Name: "f", MinArgs: 2, MaxArgs: 2, Fixup: ok}); err != nil {
		t.Errorf("disjoint overload rejected: %v", err)
	}
	if err := reg.AddFunc(script.Func{Name: "f", MinArgs: 1, MaxArgs: 3, Fixup: ok}); err == nil {
		t.Error("overlapping overload accepted")
	}
	if err := reg.AddFunc(script.Func{Name: "route", Fixup: ok}); err == nil {
		t.Error("keyword as function name accepted")
	}
	if err := reg.AddPV(script.PVClass{Name: "var", Fixup: func(*script.PVFixupCtx) (*script.PV, error) { return nil, nil }}); err == nil {
		t.Error("duplicate PV class accepted")
	}
	if reg.LookupFunc("f", 2) == nil || reg.LookupFunc("f", 3) != nil || reg.LookupPV("avp") == nil {
		t.Error("lookups")
	}
}

// A function allowed only in request_route cannot be reached from a
// failure_route through route().
func TestRouteTypeRestrictions(t *testing.T) {
	reg := script.NewRegistry()
	err := reg.AddFunc(script.Func{Name: "req_only", Routes: script.RequestRoute,
		Fixup: func(*script.FixupCtx) (script.Handler, error) { return func(*script.Ctx) int { return 1 }, nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = compile(t, reg, "request_route { route(A); }\nfailure_route[F] { route(A); }\nroute[A] { req_only(); }\n")
	if err == nil || !strings.Contains(err.Error(), "a.cfg:3:12: req_only() cannot be used in failure_route (route[A] is called from request_route|failure_route)") {
		t.Errorf("err = %v", err)
	}
	if _, err := compile(t, reg, "request_route { route(A); }\nroute[A] { req_only(); }\n"); err != nil {
		t.Error(err)
	}
}

func TestRoutesAndEvents(t *testing.T) {
	env := scripttest.NewEnv()
	p, err := env.Load(`request_route { $var(n) = "B"; route($var(n)); route("A"); }
route[A] { xlog("A\n"); }
route[B] { xlog("B\n"); }
failure_route[F] { xlog("F\n"); }
onreply_route[R] { xlog("R\n"); }
reply_route { xlog("reply\n"); }
branch_route[BR] { drop; }
onsend_route { xlog("send\n"); }
event_route[htable:mod-init] { xlog("init $rm\n"); }
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.RunOnce(p); err != nil {
		t.Fatal(err)
	}
	c := p.NewCtx()
	for _, r := range []*script.Route{p.Route(script.FailureRoute, "F"), p.Route(script.OnReplyRoute, "R"),
		p.Route(script.ReplyRoute, ""), p.Route(script.OnSendRoute, ""), p.EventRoute("htable:mod-init")} {
		if r == nil {
			t.Fatal("route not found")
		}
		c.Reset(nil)
		r.Run(c)
	}
	c.Reset(nil)
	if _, ok := p.Run(script.BranchRoute, "BR", c); !ok {
		t.Fatal("branch_route[BR] not found")
	}
	if !c.Dropped() || !c.Exited() {
		t.Error("drop in branch_route not reported")
	}
	want := "B A F R reply send init OPTIONS"
	if got := strings.Join(env.Lines(), " "); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if p.EventRoute("htable:expired:x") != nil || p.Route(script.RequestRoute, "nope") != nil {
		t.Error("absent routes found")
	}
	if names := p.EventRouteNames(); len(names) != 1 || names[0] != "htable:mod-init" {
		t.Errorf("EventRouteNames = %v", names)
	}
}

// $var lives per Ctx (per worker) and survives messages; $avp and flags do
// not.
func TestVarAndAvpLifetime(t *testing.T) {
	env := scripttest.NewEnv()
	p, err := env.Load(`request_route {
	$var(n) = $var(n) + 1; $avp(a) = $var(n);
	if (isflagset(1)) { xlog("flag left over\n"); }
	setflag(1);
	xlog("n=$var(n) avps=$cnt($avp(a)) vn=$vn(v)\n");
	$vn(v) = 1;
}
`)
	if err != nil {
		t.Fatal(err)
	}
	r := p.RequestRoute()
	c1, c2 := p.NewCtx(), p.NewCtx()
	for _, c := range []*script.Ctx{c1, c1, c2} {
		c.Reset(nil)
		r.Run(c)
	}
	want := "n=1 avps=1 vn=<null>|n=2 avps=1 vn=1|n=1 avps=1 vn=<null>"
	if got := strings.Join(env.Lines(), "|"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Runtime errors are logged with the position and the statement is skipped.
func TestRuntimeErrors(t *testing.T) {
	var logs bytes.Buffer
	env := scripttest.NewEnv()
	f, err := cfg.Parse("r.cfg", []byte(`request_route {
	$var(z) = 0; $var(x) = 5;
	$var(x) = 1 / $var(z);
	xlog("x=$var(x)\n");
	while (1) { $var(i) = $var(i) + 1; }
	xlog("i=$var(i)\n");
	$var(re) = "(";
	if ("a" =~ $var(re)) { xlog("match\n"); } else { xlog("no match\n"); }
}
`), cfg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := script.Compile(f, env.Reg, script.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), MaxWhileLoops: 10})
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewCtx()
	c.Reset(nil)
	p.RequestRoute().Run(c)
	if got := strings.Join(env.Lines(), " "); got != "x=5 i=10 no match" {
		t.Errorf("output %q", got)
	}
	for _, want := range []string{"pos=r.cfg:3:2", "division by 0", "runaway while: more than 10 loops", "bad regular expression"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestKeywordConditions(t *testing.T) {
	got, err := scripttest.RunSnippet(`
if (uri == myself) { xlog("1 T\n"); } else { xlog("1 F\n"); }
if (src_ip == myself && myself == src_ip) { xlog("2 T\n"); }
if (src_ip == 127.0.0.0/8 && src_ip != 10.0.0.0/255.0.0.0 && dst_ip == 127.0.0.1) { xlog("3 T\n"); }
if (method == "options" && method == OPTIONS && method != "INVITE" && method =~ "^opt") { xlog("4 T\n"); }
if (proto == udp && proto != TCP && af == INET && src_port > 5000 && msg:len > 100) { xlog("5 T\n"); }
if (uri =~ "@127\.0\.0\.1$" && from_uri != "x") { xlog("6 T\n"); }
if (src_ip == "127.0.0.1") { xlog("7 T\n"); }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(got, " "); g != "1 F 2 T 3 T 4 T 5 T 6 T 7 T" {
		t.Errorf("got %q", g)
	}
	// without a SIP layer the keywords are reported as unsupported
	_, err = compile(t, script.NewRegistry(), "request_route { if (uri == myself) exit; }")
	var ue *script.UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(ue.What, "core keyword uri") {
		t.Errorf("err = %v", err)
	}
}

// sipht returns the n-th oldest value for a negative AVP index; Kamailio
// 5.6 returns $null for every negative index except -count (see
// docs/kamailio-differences.md).
func TestNegativeAvpIndex(t *testing.T) {
	got, err := scripttest.RunSnippet(`$avp(x) = 1; $avp(x) = 2; $avp(x) = 3;
xlog("$(avp(x)[-1]) $(avp(x)[-2]) $(avp(x)[-3]) $(avp(x)[-4])\n");`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(got, " "); g != "1 2 3 <null>" {
		t.Errorf("got %q", g)
	}
}

type authData struct{ user string }

func TestSlot(t *testing.T) {
	reg := script.NewRegistry()
	slot := script.NewSlot[authData](reg, nil, nil)
	news := 0
	p, err := compile(t, reg, "request_route { }")
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewCtx()
	c.Reset(nil)
	a := slot.Get(c)
	news++
	a.user = "alice"
	if slot.Get(c).user != "alice" {
		t.Error("slot value lost within a message")
	}
	c.Reset(nil)
	b := slot.Get(c)
	if b != a || b.user != "" {
		t.Errorf("slot not reused/reset: %p %p %q", a, b, b.user)
	}
	if n := testing.AllocsPerRun(100, func() { c.Reset(nil); slot.Get(c).user = "x" }); n != 0 {
		t.Errorf("%v allocations per message", n)
	}
	_ = news
}

// The format helpers that modules use.
func TestFormatsAndArgs(t *testing.T) {
	reg := scripttest.NewEnv().Reg
	var got []string
	err := reg.AddFunc(script.Func{Name: "probe", MinArgs: 4, MaxArgs: 4, Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
		f0, err := fc.Arg(0).Format()
		if err != nil {
			return nil, err
		}
		n1, err := fc.Arg(1).Int()
		if err != nil {
			return nil, err
		}
		pv, err := fc.Arg(2).PV(true)
		if err != nil {
			return nil, err
		}
		re, err := fc.Arg(3).Regexp(true)
		if err != nil {
			return nil, err
		}
		if _, isConst := n1.Const(); !isConst || !f0.IsConst() == false && f0.Text() == "" {
			return nil, fc.Errorf("unexpected")
		}
		return func(c *script.Ctx) int {
			pv.Set(c, script.Str(f0.String(c)))
			got = append(got, f0.String(c), f0.Value(c).GoString(), script.Int(n1.Get(c)).String(), pv.Get(c).String(), script.Bool(re.MatchString("ABC")).String())
			return 1
		}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := compile(t, reg, `request_route { $var(a) = 7; probe("a=$var(a) $$", "12", "$var(out)", "^ab"); probe($var(a), 1, $var(o2), "x"); }`)
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewCtx()
	c.Reset(nil)
	p.RequestRoute().Run(c)
	want := `a=7 $|Str("a=7 $")|12|a=7 $|1|7|Int(7)|1|7|0`
	if g := strings.Join(got, "|"); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
	_, err = compile(t, reg, `request_route { probe(FOO, "x", "$var(a)", "("); }`)
	if err == nil || !strings.Contains(err.Error(), `unexpected bare word "FOO"`) {
		t.Errorf("err = %v", err)
	}
}

// Kamailio refuses return/exit/drop with a string-typed value at load
// time (fix_actions: "bad type, integer expected"); diff snippet 360.
func TestFlowValueMustBeInt(t *testing.T) {
	reg := scripttest.NewEnv().Reg
	for _, st := range []string{`return "abc";`, `exit "1";`, `drop "x" + "y";`} {
		_, err := compile(t, reg, "request_route {\n "+st+"\n}\n")
		if err == nil || !strings.Contains(err.Error(), "integer expected") {
			t.Errorf("%s: err = %v", st, err)
		}
	}
	for _, st := range []string{`return 1;`, `return $var(x);`, `exit;`, `return -1 + 2;`, `drop;`} {
		if _, err := compile(t, reg, "request_route {\n "+st+"\n}\n"); err != nil {
			t.Errorf("%s: %v", st, err)
		}
	}
}

// A StrInt value ($rm, $pr ...) is its string except in integer contexts
// and {s.int}; assignments keep only the string (Kamailio 5.6.3:
// (int)$rm is 512, $var(m) = $rm; if($var(m)) is false).
func TestStrIntValues(t *testing.T) {
	env := scripttest.NewEnv()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(env.Reg.AddPV(script.PVClass{Name: "dual", Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
		return &script.PV{Get: func(*script.Ctx) script.Value { return script.StrInt("OPTIONS", 512) }}, nil
	}}))
	got, err := env.Run(scripttest.SnippetConfig(`
$var(a) = (int)$dual; xlog("int=$var(a)\n");
if ($dual) { xlog("if true\n"); }
$var(m) = $dual; if ($var(m)) { xlog("var true\n"); } else { xlog("var false\n"); }
$var(a) = $dual + 1; xlog("plus=$var(a)\n");
$var(a) = 1 + $dual; xlog("iplus=$var(a)\n");
if ($dual == 512) { xlog("eq int\n"); } else { xlog("eq str\n"); }
$var(a) = $(dual{s.int}); xlog("sint=$var(a)\n");
xlog("print=$dual\n");
`, nil))
	must(err)
	want := "int=512|if true|var false|plus=OPTIONS1|iplus=513|eq str|sint=512|print=OPTIONS"
	if g := strings.Join(got, "|"); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
	v := script.StrInt("5060", 5060)
	if !v.IsStr() || v.AsInt() != 5060 || v.Plain().GoString() != `Str("5060")` || script.Int(3).Plain().AsInt() != 3 {
		t.Errorf("StrInt accessors: %#v", v)
	}
}
