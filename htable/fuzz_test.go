package htable

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseDef: ParseDef never panics, returns a *DefError on failure, and
// a parsed definition survives String -> ParseDef unchanged.
func FuzzParseDef(f *testing.F) {
	for _, s := range []string{
		"t=>size=4;autoexpire=60;",
		"ipban=>size=8;autoexpire=300;",
		"a=>size=12;initval=0;autoexpire=360",
		" t => size = 3 ; autoexpire = 5 ",
		"t=>cols='key,c1,c2';dbtable=x;dbmode=1;coldelim=|;colnull=''",
		`t=>dbtable="a b";dmqreplicate=1;updateexpire=0;maxitems=10`,
		"t=>size=8,autoexpire=x",
		"t=>size=3;;",
		"=>",
		"t=>initval=-9223372036854775808",
		"t=>size='",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		d, err := ParseDef(spec)
		if err != nil {
			var de *DefError
			if !errors.As(err, &de) {
				t.Fatalf("error %T", err)
			}
			return
		}
		if d.Name == "" || strings.ContainsAny(d.Name, " \t\r\n=") {
			t.Fatalf("bad name %q", d.Name)
		}
		if d.Slots() < 4 || d.Slots()&(d.Slots()-1) != 0 {
			t.Fatalf("slots %d", d.Slots())
		}
		s := d.String()
		if strings.Contains(d.DBTable, "'") && strings.Contains(d.DBTable, `"`) {
			return // not representable quoted
		}
		again, err := ParseDef(s)
		if err != nil {
			t.Fatalf("ParseDef(%q) ok but its String %q fails: %v", spec, s, err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("round trip of %q via %q: %+v != %+v", spec, s, again, d)
		}
	})
}
