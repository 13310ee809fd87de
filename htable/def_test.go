package htable

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDef(t *testing.T) {
	base := func(name string, f func(*Def)) Def {
		d := NewDef(name)
		if f != nil {
			f(&d)
		}
		return d
	}
	tests := []struct {
		spec string
		want Def
	}{
		{"t=>size=4;autoexpire=60;", base("t", func(d *Def) { d.AutoExpire = 60 })},
		{"ipban=>size=8;autoexpire=300;", base("ipban", func(d *Def) { d.Size = 8; d.AutoExpire = 300 })},
		{"a=>size=12;initval=0;autoexpire=360", base("a", func(d *Def) { d.Size = 12; d.HasInitVal = true; d.AutoExpire = 360 })},
		{"t=>", base("t", nil)},
		{"t=>;", base("t", nil)},
		{"  t => size = 3 ; autoexpire = 5 ", base("t", func(d *Def) { d.Size = 3; d.AutoExpire = 5 })},
		{"\tt\n=>size=3", base("t", func(d *Def) { d.Size = 3 })},
		{"t=>initval=-5", base("t", func(d *Def) { d.HasInitVal = true; d.InitVal = -5 })},
		{"t=>initval=+7", base("t", func(d *Def) { d.HasInitVal = true; d.InitVal = 7 })},
		{"t=>updateexpire=0", base("t", func(d *Def) { d.UpdateExpire = 0 })},
		{"t=>updateexpire=5", base("t", func(d *Def) { d.UpdateExpire = 5 })},
		{"t=>dbtable=htable;dbmode=1", base("t", func(d *Def) { d.DBTable = "htable"; d.DBMode = 1 })},
		{"t=>dbtable='my table'", base("t", func(d *Def) { d.DBTable = "my table" })},
		{"t=>cols='key,c1,c2';dbtable=x", base("t", func(d *Def) { d.Cols = []string{"key", "c1", "c2"}; d.DBTable = "x" })},
		{`t=>cols="a,b"`, base("t", func(d *Def) { d.Cols = []string{"a", "b"} })},
		{"t=>coldelim=|;colnull=''", base("t", func(d *Def) { d.ColDelim = '|'; d.ColNull = "" })},
		{"t=>coldelim=';'", base("t", func(d *Def) { d.ColDelim = ';' })},
		{"t=>colnull=-", base("t", func(d *Def) { d.ColNull = "-" })},
		{"t=>dmqreplicate=1", base("t", func(d *Def) { d.DMQReplicate = 1 })},
		{"t=>maxitems=1000", base("t", func(d *Def) { d.MaxItems = 1000 })},
		{"t=>size=4294967295", base("t", func(d *Def) { d.Size = 4294967295 })},
		{"t=>autoexpire='30'", base("t", func(d *Def) { d.AutoExpire = 30 })},
	}
	for _, tc := range tests {
		got, err := ParseDef(tc.spec)
		if err != nil {
			t.Errorf("ParseDef(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseDef(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
		// String round-trips.
		again, err := ParseDef(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseDef(%q).String() = %q does not round-trip: %+v, %v", tc.spec, got.String(), again, err)
		}
	}
}

func TestParseDefErrors(t *testing.T) {
	tests := []struct {
		spec, attr, msg string
	}{
		{"", "", "missing \"=>\""},
		{"t", "", "missing \"=>\""},
		{"t=size=4", "", "missing \"=>\""},
		{"t= >size=4", "", "missing \"=>\""},
		{"=>size=3", "", "empty table name"},
		{"t=>foo=1", "foo", "unknown attribute"},
		{"t=>Size=1", "Size", "unknown attribute"},
		{"t=>reloadat=5", "reloadat", "unknown attribute"},
		{"t=>size=x", "size", "bad number"},
		{"t=>size=-1", "size", "bad number"},
		{"t=>size=+1", "size", "bad number"},
		{"t=>size=4294967296", "size", "bad number"},
		{"t=>size=", "size", "missing number"},
		{"t=>size", "size", "missing number"},
		{"t=>autoexpire=1.5", "autoexpire", "bad number"},
		{"t=>initval=abc", "initval", "bad number"},
		{"t=>initval=", "initval", "missing number"},
		{"t=>dbmode=on", "dbmode", "bad number"},
		{"t=>dmqreplicate=yes", "dmqreplicate", "bad number"},
		{"t=>updateexpire=-1", "updateexpire", "bad number"},
		{"t=>maxitems=lots", "maxitems", "bad number"},
		{"t=>size=3;size=4", "size", "more than once"},
		{"t=>size=8,autoexpire=x", "size", "unexpected ','"},
		{"t=>cols=a,b", "cols", "unexpected ','"},
		{"t=>cols='a'", "cols", "at least two columns"},
		{"t=>cols='a,,b'", "cols", "empty column name"},
		{"t=>cols='1,2,3,4,5,6,7,8,9'", "cols", "too many columns"},
		{"t=>coldelim=ab", "coldelim", "exactly one character"},
		{"t=>coldelim=", "coldelim", "exactly one character"},
		{"t=>colnull=ab", "colnull", "at most one character"},
		{"t=>size=3;;", "", "attribute name missing"},
		{"t=>;size=3", "", "empty attribute name"},
		{"t=>dbtable='x", "dbtable", "unterminated"},
		{"t=>size=3 4", "size", "unexpected '4'"},
	}
	for _, tc := range tests {
		_, err := ParseDef(tc.spec)
		if err == nil {
			t.Errorf("ParseDef(%q) succeeded, want error %q", tc.spec, tc.msg)
			continue
		}
		var de *DefError
		if !errors.As(err, &de) {
			t.Errorf("ParseDef(%q) error %T is not a *DefError", tc.spec, err)
			continue
		}
		if de.Attr != tc.attr || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseDef(%q) = %v (attr %q), want attr %q and %q", tc.spec, err, de.Attr, tc.attr, tc.msg)
		}
		if tc.attr != "" && !strings.Contains(err.Error(), `"`+tc.attr+`"`) {
			t.Errorf("ParseDef(%q) error %q does not name the attribute", tc.spec, err)
		}
	}
}

func TestSlotCount(t *testing.T) {
	tests := []struct {
		size  uint32
		slots int
	}{{0, 8}, {1, 8}, {2, 4}, {3, 8}, {4, 16}, {14, 16384}, {16, 65536}, {20, 1 << 20}, {31, 1 << 31}, {32, 16384}, {1000, 16384}}
	for _, tc := range tests {
		if got := SlotCount(tc.size); got != tc.slots {
			t.Errorf("SlotCount(%d) = %d, want %d", tc.size, got, tc.slots)
		}
	}
}

func TestHugeTableIsLazy(t *testing.T) {
	d := NewDef("big")
	d.Size = 31
	tb, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Slots() != 1<<31 {
		t.Fatalf("slots %d", tb.Slots())
	}
	tb.SetInt("alice", 1)
	tb.SetStr("bob", "x")
	if v, ok := tb.Get("alice"); !ok || v.Int() != 1 {
		t.Fatalf("alice = %v %v", v, ok)
	}
	var entries []int
	tb.Dump(func(sv SlotView) error { entries = append(entries, sv.Index); return nil })
	want := []int{int(HashString("bob") & (1<<31 - 1)), int(HashString("alice") & (1<<31 - 1))}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if !equalInts(entries, want) {
		t.Fatalf("entries %v, want %v", entries, want)
	}
	st := tb.Stats()
	if st.Items != 2 || st.MinSlot != 0 || st.MaxSlot != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.MemBytes > 64<<20 {
		t.Fatalf("huge empty table holds %d bytes", st.MemBytes)
	}
	if tb.Len() != 2 {
		t.Fatal(tb.Len())
	}
}
