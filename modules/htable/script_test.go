package htable

import (
	"strings"
	"testing"
)

// scriptCases run a request_route body once against fresh tables and
// compare the xlog lines. Where Kamailio 5.6.3 was recorded (the
// differential snippets internal/script/testdata/diff/*_sht_*), the
// expected lines are its output unless the case says otherwise.
var scriptCases = []struct {
	name   string
	tables []string
	body   string
	want   []string
}{
	{"missing no initval", []string{"a=>size=4"}, `
xlog("missing=[$sht(a=>nokey)]\n");
if ($sht(a=>nokey) == $null) { xlog("missing == null\n"); }
$var(d) = defined $sht(a=>nokey);
xlog("defined=$var(d)\n");
$var(x) = $sht(a=>nokey);
xlog("var from missing=[$var(x)]\n");`,
		[]string{"missing=[<null>]", "missing == null", "defined=0", "var from missing=[0]"}},
	{"missing with initval", []string{"a=>size=4;initval=10"}, `
xlog("missing=[$sht(a=>nokey)]\n");
$var(x) = $sht(a=>nokey) + 1;
xlog("missing+1=$var(x)\n");`,
		[]string{"missing=[10]", "missing+1=11"}},
	{"plus one trap", []string{"a=>size=4"}, `
$sht(a=>x) = $sht(a=>x) + 1;
xlog("first=$sht(a=>x)\n");
$sht(a=>x) = $sht(a=>x) + 1;
xlog("second=$sht(a=>x)\n");`,
		[]string{"first=1", "second=11"}},
	{"seed message count", []string{"MessageCount=>size=12;initval=0"}, `
$sht(MessageCount=>$si) = $sht(MessageCount=>$si) + 1;
xlog("MessageCount for $si is $sht(MessageCount=>$si)\n");`,
		[]string{"MessageCount for 127.0.0.1 is 1"}},
	{"write types", []string{"a=>size=4"}, `
$sht(a=>i) = 5;
$var(r) = $sht(a=>i) + 1;
xlog("int item+1=$var(r)\n");
$sht(a=>s) = "5";
$var(r) = $sht(a=>s) + 1;
xlog("string item+1=$var(r)\n");
$sht(a=>k) = "abc"; $sht(a=>k) = 7;
$var(r) = $sht(a=>k) + 1;
xlog("int again: $var(r)\n");`,
		[]string{"int item+1=6", "string item+1=51", "int again: 8"}},
	{"delete with null", []string{"a=>size=4", "b=>size=4;initval=3"}, `
$sht(a=>k) = "v";
$sht(a=>k) = $null;
xlog("after delete=[$sht(a=>k)]\n");
$sht(b=>k) = 9;
$sht(b=>k) = $null;
xlog("after delete in initval table=[$sht(b=>k)]\n");
$sht(a=>k) = "v";
$sht(a=>k) = $avp(unset);
xlog("after = unset avp [$sht(a=>k)]\n");
$sht(a=>k) = "v";
$sht(a=>k) = $var(unset);
xlog("after = unset var [$sht(a=>k)]\n");`,
		[]string{"after delete=[<null>]", "after delete in initval table=[3]", "after = unset avp [<null>]", "after = unset var [0]"}},
	{"shtinc without initval", []string{"a=>size=4"}, `
xlog("inc missing=[$shtinc(a=>c)]\n");
xlog("after inc=[$sht(a=>c)]\n");
$sht(a=>c) = 5;
xlog("inc on 5=[$shtinc(a=>c)] then [$sht(a=>c)]\n");
xlog("dec=[$shtdec(a=>c)]\n");
$sht(a=>s) = "5";
xlog("inc on string=[$shtinc(a=>s)]\n");`,
		[]string{"inc missing=[<null>]", "after inc=[<null>]", "inc on 5=[6] then [6]", "dec=[5]", "inc on string=[<null>]"}},
	{"shtinc with initval", []string{"a=>size=4;initval=-5"}, `
xlog("inc=$shtinc(a=>k)\n");
xlog("dec missing=$shtdec(a=>m)\n");
xlog("m=$sht(a=>m)\n");`,
		[]string{"inc=-4", "dec missing=-6", "m=-6"}},
	{"shtex without autoexpire", []string{"a=>size=4"}, `
$sht(a=>k) = 1;
xlog("shtex=$shtex(a=>k)\n");
$shtex(a=>k) = 100;
xlog("shtex after set 100=$shtex(a=>k)\n");
xlog("shtex missing=$shtex(a=>nokey)\n");`,
		[]string{"shtex=0", "shtex after set 100=0", "shtex missing=0"}},
	// Kamailio prints a negative number (0 - now) after $shtex = 0;
	// sipht 0 (docs/kamailio-differences.md, htable engine item 3).
	{"shtex with autoexpire", []string{"e=>size=4;autoexpire=300", "f=>size=4;autoexpire=300;updateexpire=0"}, `
$sht(e=>k) = 1;
if ($shtex(e=>k) > 290 && $shtex(e=>k) <= 300) { xlog("fresh\n"); }
$shtex(e=>k) = 50;
if ($shtex(e=>k) > 40 && $shtex(e=>k) <= 50) { xlog("50\n"); }
$sht(e=>k) = 2;
if ($shtex(e=>k) > 290) { xlog("updateexpire=1 resets\n"); }
$sht(f=>k) = 1;
$shtex(f=>k) = 20;
$sht(f=>k) = 2;
if ($shtex(f=>k) <= 20) { xlog("updateexpire=0 keeps\n"); }
$shtex(e=>k) = 0;
xlog("never=$shtex(e=>k) value=$sht(e=>k)\n");
$shtex(e=>k) = "30";
xlog("string is 0=$shtex(e=>k)\n");`,
		[]string{"fresh", "50", "updateexpire=1 resets", "updateexpire=0 keeps", "never=0 value=2", "string is 0=0"}},
	{"shtcn and shtcv", []string{"c=>size=4"}, `
$sht(c=>alpha) = 1;
$sht(c=>alphabet) = 2;
$sht(c=>Beta) = 3;
$sht(c=>gamma_alpha) = "x";
$sht(c=>s15) = "15";
xlog("~~^alp=$shtcn(c=>~~^alp) ~%alpha=$shtcn(c=>~%alpha) %~alpha=$shtcn(c=>%~alpha) ==alpha=$shtcn(c=>==alpha) **=$shtcn(c=>**) ^BETA=$shtcn(c=>^BETA)\n");
xlog("eq1=$shtcv(c=>eq1) ==15=$shtcv(c=>==15) ~~^1=$shtcv(c=>~~^1) x=$shtcv(c=>x)\n");
xlog("bad regex=$shtcn(c=>~~[)\n");`,
		[]string{"~~^alp=2 ~%alpha=2 %~alpha=2 ==alpha=1 **=5 ^BETA=1", "eq1=1 ==15=1 ~~^1=1 x=1", "bad regex=0"}},
	{"keys with PVs and case", []string{"a=>size=4"}, `
$var(k) = "key1";
$sht(a=>$var(k)) = "v1";
$var(i) = 3;
$sht(a=>k::$var(i)) = "three";
$sht(a=>$rU::cnt) = 1;
$sht(a=>Key) = "upper";
$sht(a=>key) = "lower";
xlog("$sht(a=>key1) $sht(a=>k::3) $sht(a=>test::cnt) $sht(a=>Key) $sht(a=>key) [$sht(a=>KEY)]\n");
xlog("spaces [$sht( a =>key)] [$sht(a=> key)]\n");`,
		[]string{"v1 three 1 upper lower [<null>]", "spaces [lower] [<null>]"}},
	{"unknown table", []string{"a=>size=4"}, `
xlog("static unknown=[$sht(nosuch=>k)] inc=[$shtinc(nosuch=>k)] ex=[$shtex(nosuch=>k)] cn=[$shtcn(nosuch=>**)]\n");
$sht(nosuch=>k) = 1;
xlog("after write to unknown table\n");
$var(t) = "a";
xlog("dynamic name is literal=[$sht($var(t)=>k)]\n");`,
		[]string{"static unknown=[<null>] inc=[<null>] ex=[<null>] cn=[<null>]", "after write to unknown table", "dynamic name is literal=[<null>]"}},
	{"empty string value", []string{"a=>size=4"}, `
$sht(a=>e) = "";
xlog("empty=[$sht(a=>e)]\n");
if ($sht(a=>e) == $null) { xlog("empty == null\n"); } else { xlog("empty != null\n"); }
xlog("count=$shtcn(a=>**)\n");`,
		[]string{"empty=[]", "empty != null", "count=1"}},
	// Kamailio wraps at 2^31 (-2147483648); sipht's integers are 64-bit.
	{"64-bit counters", []string{"a=>size=4"}, `
$sht(a=>m) = 2147483647;
xlog("inc max=$shtinc(a=>m)\n");`,
		[]string{"inc max=2147483648"}},
	{"rate limit pattern", []string{"ipban=>size=8;initval=0;autoexpire=300"}, `
$var(n) = 0;
while ($var(n) < 12) {
	$sht(ipban=>$si) = $sht(ipban=>$si) + 1;
	$var(n) = $var(n) + 1;
}
if ($sht(ipban=>$si) > 10) { xlog("blocked $si after $sht(ipban=>$si) attempts\n"); }`,
		[]string{"blocked 127.0.0.1 after 12 attempts"}},
}

func TestScript(t *testing.T) {
	for _, tc := range scriptCases {
		t.Run(tc.name, func(t *testing.T) {
			e := load(t, config(tc.tables, body(tc.body)))
			got := e.run()
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s\nlogs:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), e.logs)
			}
		})
	}
}

// funcCases check the sht_* functions' return codes ($rc after each
// call, printed by the body).
var funcCases = []struct {
	name   string
	tables []string
	body   string
	want   []string
}{
	{"sht_rm", []string{"a=>size=4"}, `
$sht(a=>k1) = 1;
sht_rm("a", "k1"); xlog("rm existing rc=$rc k1=[$sht(a=>k1)]\n");
sht_rm("a", "nope"); xlog("rm missing rc=$rc\n");
sht_rm("nosuch", "k"); xlog("rm unknown table rc=$rc\n");
$var(t) = "a"; $sht(a=>k2) = 2;
sht_rm("$var(t)", "k2"); xlog("dynamic table rc=$rc k2=[$sht(a=>k2)]\n");
sht_rm("a", ""); xlog("empty key rc=$rc\n");`,
		[]string{"rm existing rc=1 k1=[<null>]", "rm missing rc=1", "rm unknown table rc=-1", "dynamic table rc=1 k2=[<null>]", "empty key rc=-1"}},
	{"sht_rm_name_re / value_re", []string{"a=>size=4"}, `
$sht(a=>user_1) = "x1"; $sht(a=>user_2) = "y2"; $sht(a=>admin) = "X9"; $sht(a=>n) = 5;
sht_rm_name_re("a=>^USER_"); xlog("rc=$rc count=$shtcn(a=>**) admin=$sht(a=>admin)\n");
sht_rm_value_re("a=>^x"); xlog("rc=$rc count=$shtcn(a=>**) n=$sht(a=>n)\n");
sht_rm_name_re("nosuch=>.*"); xlog("unknown table rc=$rc\n");
sht_rm_name_re("a=>["); xlog("bad regex rc=$rc\n");
$var(e) = ""; sht_rm_name_re("a=>$var(e)"); xlog("empty regex rc=$rc count=$shtcn(a=>**)\n");
$var(p) = "^n$";
sht_rm_name_re("a=>$var(p)"); xlog("pv rc=$rc count=$shtcn(a=>**)\n");`,
		[]string{"rc=1 count=2 admin=X9", "rc=1 count=1 n=5", "unknown table rc=1", "bad regex rc=-1", "empty regex rc=-1 count=1", "pv rc=1 count=0"}},
	{"sht_rm_name / value ops", []string{"a=>size=4"}, `
$sht(a=>pre_1) = "v-end"; $sht(a=>pre_2) = "w"; $sht(a=>x_suf) = "in-mid-dle"; $sht(a=>keep) = "k";
sht_rm_name("a", "sw", "pre_"); xlog("sw rc=$rc count=$shtcn(a=>**)\n");
sht_rm_name("a", "ew", "_suf"); xlog("ew rc=$rc count=$shtcn(a=>**)\n");
$sht(a=>y) = "in-mid-dle";
sht_rm_value("a", "in", "mid"); xlog("in rc=$rc count=$shtcn(a=>**)\n");
sht_rm_value("a", "re", "^K"); xlog("re rc=$rc count=$shtcn(a=>**)\n");
sht_rm_name("a", "xx", "k"); xlog("bad op rc=$rc\n");
sht_rm_name("nosuch", "re", "k"); xlog("unknown table rc=$rc\n");
sht_rm_name("a", "re", ""); xlog("empty value rc=$rc\n");`,
		[]string{"sw rc=1 count=2", "ew rc=1 count=1", "in rc=1 count=1", "re rc=1 count=0", "bad op rc=-1", "unknown table rc=-1", "empty value rc=-1"}},
	{"match functions", []string{"a=>size=4"}, `
$sht(a=>alpha) = "one";
$sht(a=>beta) = 2;
if (sht_match_name("a", "eq", "alpha")) { xlog("name eq alpha\n"); }
if (sht_has_name("a", "sw", "al")) { xlog("name sw al\n"); }
if (sht_match_name("a", "re", "^BET")) { xlog("name re ^BET\n"); }
if (!sht_match_name("a", "eq", "gamma")) { xlog("no name gamma rc=$rc\n"); }
if (sht_has_str_value("a", "eq", "one")) { xlog("str value one\n"); }
if (!sht_match_str_value("a", "eq", "2")) { xlog("int 2 is not a str value\n"); }
if (sht_match_name("a", "ne", "alpha")) { xlog("some name ne alpha\n"); }
sht_match_name("a", "zz", "a"); xlog("bad op rc=$rc\n");
sht_match_name("nosuch", "eq", "a"); xlog("unknown table rc=$rc\n");`,
		[]string{"name eq alpha", "name sw al", "name re ^BET", "no name gamma rc=-1", "str value one", "int 2 is not a str value", "some name ne alpha", "bad op rc=-1", "unknown table rc=-1"}},
	// Kamailio 5.6.3's sht_setxi returns 0 and silently ends the script
	// (snippets 276, 290, 291); sipht returns 1.
	{"sht_setxs / sht_setxi", []string{"a=>size=4", "e=>size=4;autoexpire=300"}, `
sht_setxs("a", "s", "strval", 0); xlog("setxs rc=$rc s=$sht(a=>s)\n");
if (sht_setxi("a", "i", 42, 0)) { xlog("setxi true rc=$rc i=$sht(a=>i)\n"); }
$var(r) = $sht(a=>i) + 1; xlog("setxi int+1=$var(r)\n");
sht_setxs("e", "x", "v", 10); xlog("ttl in (0,10]: $shtex(e=>x)\n");
sht_setxi("e", "y", 7, 0); if ($shtex(e=>y) > 290) { xlog("ttl 0 = table default\n"); }
sht_setxs("nosuch", "x", "v", 10); xlog("unknown table rc=$rc\n");
$var(v) = 9; $var(x) = 20;
sht_setxi("e", "z", "$var(v)", "$var(x)"); xlog("pv args z=$sht(e=>z) ttl=$shtex(e=>z)\n");`,
		[]string{"setxs rc=1 s=strval", "setxi true rc=1 i=42", "setxi int+1=43", "ttl in (0,10]: 10", "ttl 0 = table default", "unknown table rc=-1", "pv args z=9 ttl=20"}},
	{"sht_reset", []string{"a=>size=4"}, `
$sht(a=>x) = 1; $sht(a=>y) = 2;
sht_reset("a"); xlog("rc=$rc count=$shtcn(a=>**) x=[$sht(a=>x)]\n");
sht_reset("nosuch"); xlog("unknown rc=$rc\n");`,
		[]string{"rc=1 count=0 x=[<null>]", "unknown rc=-1"}},
	{"sht_lock", []string{"a=>size=4"}, `
sht_lock("a=>k"); xlog("lock rc=$rc\n");
sht_lock("a=>k"); xlog("re-entrant rc=$rc\n");
$sht(a=>k) = $sht(a=>k) + 1;
sht_unlock("a=>k"); sht_unlock("a=>k"); xlog("unlock rc=$rc k=$sht(a=>k)\n");
sht_lock("nosuch=>k"); xlog("unknown table rc=$rc\n");`,
		[]string{"lock rc=1", "re-entrant rc=1", "unlock rc=1 k=1", "unknown table rc=-11"}},
	{"6.1 sht_inc / sht_dec / sht_is_null", []string{"a=>size=4", "iv=>size=4;initval=0"}, `
sht_inc("iv", "c"); sht_inc("iv", "c"); sht_dec("iv", "d"); xlog("inc rc=$rc c=$sht(iv=>c) d=$sht(iv=>d)\n");
sht_inc("a", "c"); xlog("no initval rc=$rc\n");
sht_is_null("a", "c"); xlog("missing=$rc\n");
$sht(a=>c) = 1; sht_is_null("a", "c"); xlog("exists=$rc\n");
sht_is_null("iv", "zz"); xlog("initval=$rc\n");
sht_is_null("nosuch", "zz"); xlog("no table=$rc\n");`,
		[]string{"inc rc=1 c=2 d=-1", "no initval rc=-1", "missing=1", "exists=-1", "initval=-2", "no table=2"}},
}

func TestFunctions(t *testing.T) {
	for _, tc := range funcCases {
		t.Run(tc.name, func(t *testing.T) {
			e := load(t, config(tc.tables, body(tc.body)))
			got := e.run()
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s\nlogs:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), e.logs)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	registerKit()
	cases := []struct {
		name, src, want string
	}{
		{"bad attribute", config([]string{"a=>size=4;colour=red"}, ""), `attribute "colour": unknown attribute`},
		{"bad number", config([]string{"a=>size=x"}, ""), `attribute "size": bad number`},
		{"duplicate table", config([]string{"a=>size=4", "a=>size=3"}, ""), `table "a" is already defined`},
		{"empty key", config([]string{"a=>size=4"}, body(`xlog("$sht(a=>)");`)), `the key after "=>" is empty`},
		{"no arrow", config([]string{"a=>size=4"}, body(`xlog("$sht(a)");`)), `expected "table=>key"`},
		{"shtrecord field", config([]string{"a=>size=4"}, body(`xlog("$shtrecord(name)");`)), `unknown field "name"`},
		{"event_callback", config(nil, `modparam("htable", "event_callback", "ksr_htable_event")`+"\n"), "no KEMI engine"},
		{"dbmode=2 with cols", config([]string{"a=>dbtable=x;dbmode=2;cols='k,v'"}, ""), "cannot be used with cols="},
		{"bad db_url", config(nil, `modparam("htable", "db_url", "oracle://x/y")`+"\n"), "unsupported scheme"},
		{"enable_dmq without dmq", config(nil, `modparam("htable", "enable_dmq", 1)`+"\n"), "needs the dmq module"},
		{"write_behind_interval", config(nil, `modparam("htable", "write_behind_interval", "soon")`+"\n"), "neither seconds nor a duration"},
		{"lock arg not constant", config([]string{"a=>size=4"}, body(`$var(x) = "a=>k"; sht_lock($var(x));`)), "expected a constant string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadErr(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
