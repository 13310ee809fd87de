package cfg

import (
	"fmt"
	"strings"
	"testing"
)

// sexpr renders an expression as a parenthesised prefix form.
func sexpr(e Expr) string {
	switch e := e.(type) {
	case *IntLit:
		return fmt.Sprint(e.V)
	case *StrLit:
		return fmt.Sprintf("%q", e.V)
	case *PVExpr:
		return e.Spec.Text
	case *Unary:
		return "(" + e.Op.String() + " " + sexpr(e.X) + ")"
	case *Binary:
		return "(" + e.Op.String() + " " + sexpr(e.L) + " " + sexpr(e.R) + ")"
	case *SelVal:
		return "(selval " + sexpr(e.Cond) + " " + sexpr(e.A) + " " + sexpr(e.B) + ")"
	case *CallExpr:
		var a []string
		for _, x := range e.Args {
			a = append(a, sexpr(x))
		}
		return e.Name + "(" + strings.Join(a, ", ") + ")"
	case *RouteCall:
		if e.Dyn != nil {
			return "route(" + sexpr(e.Dyn) + ")"
		}
		return "route(" + e.Name + ")"
	case *RawArg:
		return "raw:" + e.Text
	case *KeywordCond:
		r := ""
		switch {
		case e.Myself:
			r = "myself"
		case e.Net != nil:
			r = "net:" + e.Net.Text
		case e.Host != "":
			r = "host:" + e.Host
		case e.Proto != "":
			r = "proto:" + e.Proto
		default:
			r = sexpr(e.Right)
		}
		return "(" + e.Op.String() + " " + e.Keyword + " " + r + ")"
	case *AvpAttr:
		return e.Text
	case *SelectExpr:
		return e.Text
	case *AssignExpr:
		return "(= " + sexpr(e.Assign.LHS) + " " + sexpr(e.Assign.RHS) + ")"
	case *BlockExpr:
		return "{block}"
	}
	return fmt.Sprintf("%T", e)
}

func parseExprT(t *testing.T, src string) Expr {
	t.Helper()
	f, err := Parse("e.cfg", []byte("request_route {\n$var(r) = "+src+";\n}\n"), Options{})
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return f.Items[0].(*Route).Body.Stmts[0].(*Assign).RHS
}

func TestExpressionPrecedence(t *testing.T) {
	tests := []struct{ src, want string }{
		{"1 + 2 * 3", "(+ 1 (* 2 3))"},
		{"1 - 2 - 3", "(- (- 1 2) 3)"},
		{"-7 / 2", "(/ -7 2)"},
		{"- $a * 2", "(* (- $a) 2)"},
		{"7 mod 3 + 1", "(+ (mod 7 3) 1)"},
		{"$a || $b && $c", "(|| $a (&& $b $c))"},
		{"$a or $b and not $c", "(|| $a (&& $b (! $c)))"},
		{"1 | 2 & 3 ^ 4", "(| 1 (& 2 (^ 3 4)))"},
		{"1 << 2 >> 3", "(<< 1 (>> 2 3))"},
		{"$a == 1 < 2", "(== $a (< 1 2))"},
		{"$a + 1 == $b * 2", "(== (+ $a 1) (* $b 2))"},
		{"!$a == 1", "(== (! $a) 1)"},
		{"! defined $a", "(! (defined $a))"},
		{"defined $a == 1", "(== (defined $a) 1)"},
		{"(int)$a + 1", "(+ ((int) $a) 1)"},
		{"(str)$a + 1", "(+ ((str) $a) 1)"},
		{"~$a & 1", "(& (~ $a) 1)"},
		{"strlen($a) > 2", "(> (strlen $a) 2)"},
		{"strempty($a) || $b eq \"x\"", "(|| (strempty $a) (eq $b \"x\"))"},
		{"$a =~ \"^a\" && $b ieq 2 && $c ine 3 && $d ne \"z\"", "(&& (&& (&& (=~ $a \"^a\") (ieq $b 2)) (ine $c 3)) (ne $d \"z\"))"},
		{"selval($a > 1, \"x\", 2)", "(selval (> $a 1) \"x\" 2)"},
		{"f(1, \"a\", $b) + route(R)", "(+ f(1, \"a\", $b) route(R))"},
		{"method == \"INVITE\" || method == INVITE", "(|| (== method \"INVITE\") (== method \"INVITE\"))"},
		{"uri == myself && !(from_uri != myself)", "(&& (== uri myself) (! (!= from_uri myself)))"},
		{"myself == src_ip", "(== src_ip myself)"},
		{"src_ip == 10.0.0.0/8 || dst_ip != 192.168.1.1", "(|| (== src_ip net:10.0.0.0/8) (!= dst_ip net:192.168.1.1))"},
		{"src_ip == 10.0.0.0/255.0.0.0", "(== src_ip net:10.0.0.0/255.0.0.0)"},
		{"!src_ip == backup.foo.bar", "(! (== src_ip host:backup.foo.bar))"},
		{"proto == UDP || proto != tls", "(|| (== proto proto:udp) (!= proto proto:tls))"},
		{"src_port > 5000 + 60", "(> src_port (+ 5000 60))"},
		{"msg:len >= 2048", "(>= msg:len 2048)"},
		{"uri =~ \"^sip:\" + $var(x)", "(=~ uri (+ \"^sip:\" $var(x)))"},
		{"af == INET6", "(== af 10)"},
		{"$sht(a=>$si) + 1", "(+ $sht(a=>$si) 1)"},
		{"($var(x) = 2)", "(= $var(x) 2)"},
		{"@ruri.user", "@ruri.user"},
		{"$f.uid", "$f.uid"},
	}
	for _, tt := range tests {
		if got := sexpr(parseExprT(t, tt.src)); got != tt.want {
			t.Errorf("%s\n got %s\nwant %s", tt.src, got, tt.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	src := `#!KAMAILIO
#!define WITH_X
debug=3
log_facility=LOG_LOCAL0
log_prefix="{$mt $hdr(CSeq) $ci} "
fork=yes
children=4
listen=udp:127.0.0.1:5060
listen=tcp:eth0:5061 advertise 1.2.3.4:5080 name "pub"
listen=[::1]:5062
listen=udp:(10.0.0.1, 10.0.0.2):5063 virtual
alias="example.com" tls:example.org:5061
advertised_address="1.2.3.4"
pstn.gw_ip = "10.0.0.101" desc "My PSTN GW Address"
kemi.onsend_route_callback="ksr_onsend"
mpath="/usr/lib/kamailio/modules/"
loadmodule "htable.so"
modparam("htable", "htable", "a=>size=4;")
modparam("auth_db|usrloc", "db_url", "x")
modparam("htable", "timer_interval", -1)
modparamx("htable", "x", $var(y))
cfgengine "native"
flags
  FLAG_A : 1,
  FLAG_B;
request_route {
	if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
	route(RELAY);
}
route[RELAY] { return; }
route["quoted name"] { return 1; }
route[5] { drop; }
failure_route[MANAGE_FAILURE] { break; }
onreply_route[0] { exit(0); }
onreply_route[REPLY] { $var(x) = 1; }
reply_route { ; }
branch_route[B] { }
onsend_route { }
event_route[htable:mod-init] { $sht(a=>x) = 1; }
event_route[htable:expired:a] { }
`
	f, err := Parse("k.cfg", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Compat != CompatKamailio {
		t.Errorf("compat = %v", f.Compat)
	}
	var b strings.Builder
	for _, it := range f.Items {
		switch it := it.(type) {
		case *CoreParam:
			v := it.Value
			fmt.Fprintf(&b, "param %s %s int=%d str=%q raw=%q", it.Name, v.Kind, v.Int, v.Str, v.Raw)
			for _, s := range v.Sockets {
				fmt.Fprintf(&b, " sock{%s %v %d}", s.Proto, s.Hosts, s.Port)
			}
			if v.Advertise != nil {
				fmt.Fprintf(&b, " adv=%s", v.Advertise.Raw)
			}
			if v.SocketName != "" || v.Virtual {
				fmt.Fprintf(&b, " name=%q virtual=%v", v.SocketName, v.Virtual)
			}
		case *CfgVar:
			fmt.Fprintf(&b, "cfgvar %s.%s str=%v %q %d desc=%q", it.Group, it.Name, it.IsString, it.Str, it.Int, it.Desc)
		case *LoadPath:
			fmt.Fprintf(&b, "loadpath %s", it.Path)
		case *LoadModule:
			fmt.Fprintf(&b, "loadmodule %s", it.Path)
		case *ModParam:
			fmt.Fprintf(&b, "modparam %s %s int=%v %d %q %q x=%v", it.Module, it.Param, it.IsInt, it.Int, it.Str, it.PV, it.X)
		case *CfgEngine:
			fmt.Fprintf(&b, "cfgengine %s", it.Name)
		case *FlagsDecl:
			fmt.Fprintf(&b, "flags %v", it.Flags[0].Name+fmt.Sprint(it.Flags[0].Bit)+","+it.Flags[1].Name+fmt.Sprint(it.Flags[1].Bit))
		case *Route:
			fmt.Fprintf(&b, "route %s %q (%s) %d stmts @%d", it.Kind, it.Name, it.Keyword, len(it.Body.Stmts), it.Pos.Line)
		}
		b.WriteByte('\n')
	}
	want := `param debug number int=3 str="" raw="3"
param log_facility identifier int=0 str="LOG_LOCAL0" raw="LOG_LOCAL0"
param log_prefix string int=0 str="{$mt $hdr(CSeq) $ci} " raw="\"{$mt $hdr(CSeq) $ci} \""
param fork number int=1 str="" raw="yes"
param children number int=4 str="" raw="4"
param listen socket int=0 str="" raw="udp:127.0.0.1:5060" sock{udp [127.0.0.1] 5060}
param listen socket int=0 str="" raw="tcp:eth0:5061" sock{tcp [eth0] 5061} adv=1.2.3.4:5080 name="pub" virtual=false
param listen socket int=0 str="" raw="[::1]:5062" sock{ [[::1]] 5062}
param listen socket int=0 str="" raw="udp:(10.0.0.1, 10.0.0.2):5063" sock{udp [10.0.0.1 10.0.0.2] 5063} name="" virtual=true
param alias socket int=0 str="" raw="example.com tls:example.org:5061" sock{ [example.com] 0} sock{tls [example.org] 5061}
param advertised_address identifier int=0 str="1.2.3.4" raw="1.2.3.4"
cfgvar pstn.gw_ip str=true "10.0.0.101" 0 desc="My PSTN GW Address"
cfgvar kemi.onsend_route_callback str=true "ksr_onsend" 0 desc=""
loadpath /usr/lib/kamailio/modules/
loadmodule htable.so
modparam htable htable int=false 0 "a=>size=4;" "" x=false
modparam auth_db|usrloc db_url int=false 0 "x" "" x=false
modparam htable timer_interval int=true -1 "" "" x=false
modparam htable x int=false 0 "" "$var(y)" x=true
cfgengine native
flags FLAG_A1,FLAG_B-1
route request_route "" (request_route) 2 stmts @26
route request_route "RELAY" (route) 1 stmts @30
route request_route "quoted name" (route) 1 stmts @31
route request_route "5" (route) 1 stmts @32
route failure_route "MANAGE_FAILURE" (failure_route) 1 stmts @33
route reply_route "" (onreply_route) 1 stmts @34
route onreply_route "REPLY" (onreply_route) 1 stmts @35
route reply_route "" (reply_route) 1 stmts @36
route branch_route "B" (branch_route) 0 stmts @37
route onsend_route "" (onsend_route) 0 stmts @38
route event_route "htable:mod-init" (event_route) 1 stmts @39
route event_route "htable:expired:a" (event_route) 0 stmts @40
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if errs := CheckCoreParams(f); len(errs) > 0 {
		t.Errorf("CheckCoreParams: %v", errs)
	}
}

func TestStatements(t *testing.T) {
	src := `request_route {
	if ($a) xlog("x"); else if ($b) { xlog("y"); } else xlog("z");
	while ($i < 3) $i = $i + 1;
	switch ($x) {
	case 1:
	case 2: xlog("a"); break;
	case /"^b": xlog("b");
	default: xlog("d");
	}
	return;
	return(2);
	return -1;
	exit;
	exit(3);
	drop();
	drop;
	revert_uri;
	setflag(FLAG_A);
	forward(uri:host, uri:port);
	force_send_socket(udp:127.0.0.1:5060);
	route($var(r));
	t_on_failure("X");
	force_rport;
}
`
	f, err := Parse("s.cfg", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stmts := f.Items[0].(*Route).Body.Stmts
	if len(stmts) != 17 {
		t.Fatalf("%d statements", len(stmts))
	}
	iff := stmts[0].(*If)
	if _, ok := iff.Else.(*If); !ok {
		t.Errorf("else-if: %T", iff.Else)
	}
	sw := stmts[2].(*Switch)
	if len(sw.Cases) != 4 || sw.Cases[0].Body != nil || !sw.Cases[2].Regex || sw.Cases[3].Label != nil {
		t.Errorf("switch cases wrong: %+v", sw.Cases)
	}
	flows := []string{}
	for _, s := range stmts[3:10] {
		fl := s.(*Flow)
		v := ""
		if fl.Value != nil {
			v = sexpr(fl.Value)
		}
		flows = append(flows, fl.Kind.String()+v)
	}
	if g := strings.Join(flows, " "); g != "return return2 return-1 exit exit3 drop drop" {
		t.Errorf("flows: %s", g)
	}
	calls := []string{}
	for _, s := range stmts[10:] {
		calls = append(calls, sexpr(s.(*ExprStmt).Expr))
	}
	want := `revert_uri() setflag(raw:FLAG_A) forward(raw:uri:host, raw:uri:port) force_send_socket(raw:udp:127.0.0.1:5060) route($var(r)) t_on_failure("X") force_rport()`
	if g := strings.Join(calls, " "); g != want {
		t.Errorf("calls:\n got %s\nwant %s", g, want)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing semicolon", "request_route {\n\txlog(\"a\")\n\texit;\n}", "e.cfg:3:2: syntax error: unexpected \"exit\", expected ';' after the function call (missing ';'?)"},
		{"missing brace", "request_route {\n\texit;\n", "e.cfg:1:15: syntax error: '{' is not closed"},
		{"bare word", "request_route {\n\tif ($a == FOO) exit;\n}", "e.cfg:2:12: syntax error: unexpected identifier \"FOO\""},
		{"bad top level", "request_route { exit; }\nxlog(\"a\");", "e.cfg:2:1: syntax error: unexpected \"xlog\", expected a global parameter"},
		{"param type", "debug=\"x\"", "e.cfg:1:7: debug: unexpected string \"x\", expected a number"},
		{"param fork", "fork=maybe", "e.cfg:1:6: fork: unexpected \"maybe\", expected a number (or yes/no)"},
		{"listen port", "listen=udp:1.2.3.4:x", "e.cfg:1:20: listen: unexpected \"x\", expected a port number"},
		{"modparam", "modparam(\"a\", \"b\")", "e.cfg:1:18: syntax error: unexpected ')', expected ',' after the parameter name"},
		{"loadmodule", "loadmodule htable", "e.cfg:1:12: syntax error: unexpected \"htable\", expected a quoted module name"},
		{"route name", "route[] { }", "e.cfg:1:7: syntax error: unexpected ']', expected a route name"},
		{"event route", "event_route { }", "e.cfg:1:13: syntax error: unexpected '{', expected '[' after event_route"},
		{"else without if", "request_route {\n else { }\n}", "e.cfg:2:2: syntax error: unexpected \"else\", expected a statement ('else' without 'if')"},
		{"case outside switch", "request_route {\n case 1: exit;\n}", "e.cfg:2:2: syntax error: unexpected \"case\""},
		{"expression statement", "request_route {\n $a + 1;\n}", "e.cfg:2:2: syntax error: expected a statement"},
		{"plus-equal", "request_route {\n $a += 1;\n}", "e.cfg:2:5: syntax error: '+=' is not supported"},
		{"bad pv", "request_route {\n $var(x) = $(var(x)[1;\n}", "e.cfg:2:12: unterminated pseudo-variable $(var(x)[1;: expected ')' before the end of the line"},
		{"pv trailing", "request_route {\n xlog($(var(x))x);\n}", "e.cfg:2:16: syntax error: unexpected \"x\", expected ',' or ')' in the arguments of xlog()"},
		{"switch label", "request_route {\n switch($a) { xlog(\"a\"); }\n}", "e.cfg:2:15: syntax error: unexpected \"xlog\", expected 'case' or 'default'"},
		{"unclosed paren", "request_route {\n if ($a == 1 { exit; }\n}", "e.cfg:2:14: syntax error: unexpected '{', expected ')' to close '('"},
		{"selval args", "request_route {\n $a = selval(1, 2);\n}", "e.cfg:2:18: syntax error: unexpected ')', expected ',' between the selval arguments"},
		{"myself alone", "request_route {\n if (myself) exit;\n}", "e.cfg:2:12: syntax error: unexpected ')', expected '==' or '!=' after myself"},
		{"cfg var number name", "grp.1 = 2", "e.cfg:1:5: syntax error: unexpected number 1, expected a cfg variable name"},
		{"several errors", "request_route {\n xlog(\"a\")\n}\nroute[X] {\n exit\n}", "e.cfg:3:1: syntax error: unexpected '}', expected ';' after the function call (missing ';'?)\ne.cfg:6:1: syntax error: unexpected '}', expected ';' after the exit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("e.cfg", []byte(tt.src), Options{})
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\ndoes not contain:\n%s", err, tt.want)
			}
		})
	}
}

func TestCheckCoreParams(t *testing.T) {
	f, err := Parse("p.cfg", []byte("debug=2\nfifo=\"/tmp/x\"\nchildrn=4\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	errs := CheckCoreParams(f)
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	if !strings.Contains(errs[0].Error(), "p.cfg:2:1: unknown core parameter \"fifo\"") {
		t.Errorf("%v", errs[0])
	}
	if !strings.Contains(errs[1].Error(), "did you mean children") {
		t.Errorf("%v", errs[1])
	}
	if d := LookupCoreParam("shm_mem_size"); d == nil || d.Name() != "shm" || d.Use != Ignored {
		t.Errorf("shm_mem_size: %+v", d)
	}
	if d := LookupCoreParam("listen"); d == nil || d.Use != Used || d.Kind != PListen {
		t.Errorf("listen: %+v", d)
	}
}

func TestParsePV(t *testing.T) {
	tests := []struct {
		in, want string
		n        int
	}{
		{"$si:5060", "si|||", 3},
		{"$var(x) tail", "var|x||", 7},
		{"$(var(x){s.len})", "var|x||s.len", 16},
		{"$(avp(a)[*]{s.select,1,,}{ s.len })", "avp|a|*|s.select(1,,) s.len", 35},
		{"$sht(t=>$var(k))", "sht|t=>$var(k)||", 16},
		{"$(sht(t=>$(var(k){s.tolower})))", "sht|t=>$(var(k){s.tolower})||", 31},
		{"$$", "$|||", 2},
		{"$T_reply_code", "T_reply_code|||", 13},
		{"$var(x){s.len}", "var|x||", 7},
	}
	for _, tt := range tests {
		sp, n, err := ParsePV(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		var tr []string
		for _, x := range sp.Trans {
			s := x.Class + "." + x.Name
			if x.HasParams {
				s += "(" + x.Params + ")"
			}
			tr = append(tr, s)
		}
		got := sp.Name + "|" + sp.Inner + "|" + sp.Index + "|" + strings.Join(tr, " ")
		if got != tt.want || n != tt.n {
			t.Errorf("%s: got %q n=%d, want %q n=%d", tt.in, got, n, tt.want, tt.n)
		}
	}
	for _, bad := range []string{"$", "$ x", "$var()", "$(var(x)", "$(var(x)[])", "$(var(x){s})", "$(var(x)x)", "$(a{b.c)"} {
		if _, _, err := ParsePV(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
