package htable

import "testing"

// Vectors verified against Kamailio 5.6.3 (fact sheet §4.2).
func TestHashVectors(t *testing.T) {
	tests := []struct {
		key   string
		hash  uint32
		slots int
		slot  int
	}{
		{"alice", 0x6d52f7dd, 16, 13},
		{"bob", 0x006e33c3, 16, 3},
		{"15", 0x0000371a, 16, 10},
		{"k2", 0x00006663, 16, 3},
		{"ABCdef", 0x6d5fadf3, 16, 3},
		{"héllo€x", 0xad39a20a, 16, 10},
		{"", 0, 16, 0},
		{"key[0]", 0, 256, 35},
		{"key::size", 0, 256, 50},
		{"key[1]", 0, 256, 67},
		{"key[2]", 0, 256, 227},
	}
	for _, tc := range tests {
		h := HashString(tc.key)
		if tc.hash != 0 && h != tc.hash {
			t.Errorf("HashString(%q) = %#08x, want %#08x", tc.key, h, tc.hash)
		}
		if got := int(h & uint32(tc.slots-1)); got != tc.slot {
			t.Errorf("slot(%q) of %d = %d, want %d", tc.key, tc.slots, got, tc.slot)
		}
		if Hash([]byte(tc.key)) != h {
			t.Errorf("Hash and HashString differ for %q", tc.key)
		}
	}
	// Case-insensitive hash, case-sensitive keys.
	if HashString("ALICE") != HashString("alice") {
		t.Error("hash is not case-insensitive")
	}
	tb, err := New(NewDef("t"))
	if err != nil {
		t.Fatal(err)
	}
	tb.SetInt("Alice", 1)
	tb.SetInt("alice", 2)
	if v, _ := tb.Get("Alice"); v.Int() != 1 {
		t.Errorf("Alice = %v, want 1", v)
	}
	if v, _ := tb.Get("alice"); v.Int() != 2 {
		t.Errorf("alice = %v, want 2", v)
	}
	if tb.SlotOf("Alice") != 13 || tb.SlotOf("alice") != 13 {
		t.Errorf("slots %d %d, want 13", tb.SlotOf("Alice"), tb.SlotOf("alice"))
	}
}

func TestDumpOrderMatchesKamailio(t *testing.T) {
	// The fact sheet's capture: bob=42, "15"="x", alice="hello" in a
	// size=4 table dumps entries 3, 10, 13.
	tb, _ := New(NewDef("t"))
	tb.SetInt("bob", 42)
	tb.SetStr("15", "x")
	tb.SetStr("alice", "hello")
	var got []int
	tb.Dump(func(sv SlotView) error {
		got = append(got, sv.Index, len(sv.Items))
		return nil
	})
	want := []int{3, 1, 10, 1, 13, 1}
	if !equalInts(got, want) {
		t.Errorf("dump entries/sizes = %v, want %v", got, want)
	}
}

func TestSlotOrderByHashThenInsertion(t *testing.T) {
	d := NewDef("t")
	d.Size = 0 // 8 slots
	tb, _ := New(d)
	// Keys that share a slot; some share the full hash (case variants).
	keys := []string{"b", "B", "j", "r", "z", "Z", "a"}
	for _, k := range keys {
		tb.SetInt(k, 1)
	}
	tb.Dump(func(sv SlotView) error {
		for i := 1; i < len(sv.Items); i++ {
			ha, hb := Hash(sv.Items[i-1].Key), Hash(sv.Items[i].Key)
			if ha > hb {
				t.Errorf("slot %d: %q (%#x) before %q (%#x)", sv.Index, sv.Items[i-1].Key, ha, sv.Items[i].Key, hb)
			}
		}
		return nil
	})
	// Ties: "b" then "B" (insertion order); after deleting and re-adding
	// "b" it comes after "B".
	order := func() []string {
		var out []string
		tb.Dump(func(sv SlotView) error {
			for _, it := range sv.Items {
				k := string(it.Key)
				if k == "b" || k == "B" {
					out = append(out, k)
				}
			}
			return nil
		})
		return out
	}
	if got := order(); len(got) != 2 || got[0] != "b" {
		t.Fatalf("tie order %v, want [b B]", got)
	}
	tb.Delete("b")
	tb.SetInt("b", 2)
	if got := order(); len(got) != 2 || got[0] != "B" {
		t.Fatalf("tie order after re-add %v, want [B b]", got)
	}
	// An update keeps the position.
	tb.SetStr("B", "a much longer string value than before")
	if got := order(); got[0] != "B" {
		t.Fatalf("tie order after update %v, want [B b]", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// hashRef is the byte-by-byte definition Hash must equal.
func hashRef(key []byte) uint32 {
	var h, v uint32
	i := 0
	for ; i+4 <= len(key); i += 4 {
		v = fold(key[i])<<24 + fold(key[i+1])<<16 + fold(key[i+2])<<8 + fold(key[i+3])
		h += v ^ (v >> 3)
	}
	v = 0
	for ; i < len(key); i++ {
		v = v<<8 + fold(key[i])
	}
	h += v ^ (v >> 3)
	return (h + (h >> 11)) + ((h >> 13) + (h >> 23))
}

func TestHashAllBytes(t *testing.T) {
	// Every byte value in every position of a 4-byte group.
	for pos := 0; pos < 4; pos++ {
		for b := 0; b < 256; b++ {
			k := []byte("aZ@[")
			k = append(k, "m`{9"...)
			k[pos] = byte(b)
			k[4+(pos+1)%4] = byte(255 - b)
			if Hash(k) != hashRef(k) {
				t.Fatalf("Hash(%q) = %#x, want %#x", k, Hash(k), hashRef(k))
			}
		}
	}
}

func FuzzHash(f *testing.F) {
	f.Add([]byte("alice"))
	f.Add([]byte("héllo€x"))
	f.Add([]byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{"))
	f.Fuzz(func(t *testing.T, k []byte) {
		if Hash(k) != hashRef(k) {
			t.Fatalf("Hash(%q) = %#x, want %#x", k, Hash(k), hashRef(k))
		}
	})
}
