package script_test

import (
	"testing"

	"github.com/sipht/sipht/internal/script/scripttest"
)

// FuzzCompileRun compiles arbitrary route bodies with the test doubles and
// runs them once: compile errors are fine, panics and hangs are not.
func FuzzCompileRun(f *testing.F) {
	for _, s := range []string{
		"$var(x) = 1 + 2 * 3; xlog(\"$var(x)\\n\");",
		"$sht(t=>$si) = $sht(t=>$si) + 1; if ($sht(t=>$si) > 5) { sl_send_reply(\"429\", \"x\"); exit; }",
		"$avp(a) = 1; $(avp(a)[*]) = $null; xlog(\"$cnt($avp(a)) $(avp(a)[-1]{s.len})\\n\");",
		"while ($var(i) < 1000) { $var(i) = $var(i) + 1; } switch ($var(i)) { case 100: break; default: drop; }",
		"$var(s) = \"a,b,c\"; xlog(\"$(var(s){s.select,-1,,}) $(var(s){s.substr,1,0}{s.toupper}) $(var(s){param.value,a})\\n\");",
		"if (\"abc\" =~ $var(re)) { return 0; } $var(x) = 1 / $var(z); route(BODY);",
		"xlog(\"L_INFO\", \"$(var(x){uri.user}) $shtinc(iv=>k) $shtex(t=>k) $shtcn(t=>~~.*) $$\\n\");",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		config := scripttest.SnippetConfig(body, []string{"t=>size=4;autoexpire=10", "iv=>size=4;initval=10"})
		env := scripttest.NewEnv()
		p, err := env.Load(config)
		if err != nil {
			return
		}
		if err := env.RunOnce(p); err != nil {
			t.Fatal(err)
		}
	})
}
