package usrloc

import (
	"fmt"
	"sync"
	"testing"
)

// TestCoreHash checks the AoR hash against values printed by Kamailio 5.6.3
// (kamcmd ul.dump HashID).
func TestCoreHash(t *testing.T) {
	for aor, want := range map[string]uint32{"alice": 1834153949, "bob": 7222211, "hank": 1702698370,
		"dave": 1761459855, "judy": 1733028635, "carol": 1864284022, "erin": 1777119099, "zed": 7683094} {
		if got := CoreHash(aor); got != want {
			t.Errorf("CoreHash(%q) = %d, want %d", aor, got, want)
		}
	}
	// bytes above 0x7f use C's signed char arithmetic; just make sure it
	// is deterministic and in range of the slot mask
	if CoreHash("\xff\xfe\x80a") == CoreHash("\x7f\x7e\x00a") {
		t.Error("high bytes hash like low bytes")
	}
}

func newTestDomain(desc bool) (*Domain, *int64) {
	now := int64(1000)
	return newDomain("location", 4, desc, func() int64 { return now }), &now
}

func uris(r *Record) string {
	s := ""
	for _, c := range r.Contacts {
		s += fmt.Sprintf("%s/%d ", c.URI, c.Q)
	}
	return s
}

func TestInsertOrderAndMoved(t *testing.T) {
	d, _ := newTestDomain(false)
	d.With("a", func(tx *Txn) {
		tx.Insert(&Contact{URI: "1", Q: QUnspecified})
		tx.Insert(&Contact{URI: "2", Q: 500})
		tx.Insert(&Contact{URI: "3", Q: QUnspecified})
		tx.Insert(&Contact{URI: "4", Q: 1000})
		if got := uris(tx.Record()); got != "4/1000 2/500 1/-1 3/-1 " {
			t.Errorf("q order: %s", got)
		}
		// Kamailio's update_contact_pos: a contact whose q rose above its
		// neighbour goes before the first contact with q >= its own
		c := tx.Record().Contacts[3] // 3/-1
		c.Q = 800
		tx.Moved(c)
		if got := uris(tx.Record()); got != "3/800 4/1000 2/500 1/-1 " {
			t.Errorf("after move: %s", got)
		}
	})
	dt, _ := newTestDomain(true)
	dt.With("a", func(tx *Txn) {
		tx.Insert(&Contact{URI: "1", Q: 1000})
		tx.Insert(&Contact{URI: "2", Q: 0})
		if got := uris(tx.Record()); got != "2/0 1/1000 " {
			t.Errorf("desc_time_order: %s", got)
		}
		tx.Moved(tx.Record().Contacts[1])
		if got := uris(tx.Record()); got != "1/1000 2/0 " {
			t.Errorf("desc_time_order after update: %s", got)
		}
	})
}

func TestRecordLifecycle(t *testing.T) {
	d, now := newTestDomain(false)
	d.With("a", func(tx *Txn) {
		tx.Insert(&Contact{URI: "1", Expires: 1010, RUID: "r1"})
		tx.Insert(&Contact{URI: "2", Expires: 1100, RUID: "r2"})
	})
	d.With("b", func(tx *Txn) { tx.Insert(&Contact{URI: "3", Expires: 0, RUID: "r3"}) }) // permanent
	d.With("c", func(tx *Txn) { tx.Create() })                                           // left empty: removed
	if d.Records() != 2 || d.ContactCount() != 3 {
		t.Fatalf("records %d contacts %d", d.Records(), d.ContactCount())
	}
	*now = 1050
	if n := d.Expire(*now); n != 1 {
		t.Errorf("expired %d, want 1", n)
	}
	*now = 2000
	if n := d.Expire(*now); n != 1 {
		t.Errorf("expired %d, want 1 (the permanent contact stays)", n)
	}
	if d.Records() != 1 || d.ContactCount() != 1 {
		t.Fatalf("after expiry: records %d contacts %d", d.Records(), d.ContactCount())
	}
	if !d.DeleteByRUID("r3") || d.DeleteByRUID("r3") {
		t.Error("DeleteByRUID")
	}
	if d.Records() != 0 || d.ContactCount() != 0 {
		t.Fatalf("after delete: records %d contacts %d", d.Records(), d.ContactCount())
	}
	n := 0
	d.Range(func(*Record) bool { n++; return true }, nil)
	if n != 0 {
		t.Errorf("%d records left", n)
	}
}

func TestFindMatchingModes(t *testing.T) {
	m := New()
	m.SetClock(func() int64 { return 1000 })
	d := m.RegisterDomain("location")
	d.With("a", func(tx *Txn) {
		tx.Insert(&Contact{URI: "sip:a@1", CallID: "c1", CSeq: 10, LastModified: 995})
	})
	for _, tc := range []struct {
		mode         int64
		uri, callID  string
		cseq, want   int
		wantURIFound bool
	}{
		{MatchContact, "sip:a@1", "c1", 11, Found, true},
		{MatchContact, "sip:a@1", "c1", 9, InvalidCSeq, false},
		{MatchContact, "sip:a@1", "c1", 10, Retransmission, false},
		{MatchContact, "sip:a@1", "c2", 1, Found, true}, // other Call-ID: no CSeq check
		{MatchContact, "sip:a@2", "c1", 11, NotFound, false},
		{MatchContactCallID, "sip:a@1", "c2", 11, NotFound, false},
		{MatchContactCallID, "sip:a@1", "c1", 9, InvalidCSeq, false},
		{MatchCallIDOnly, "sip:x", "c1", 11, Found, true},
	} {
		m.matchingMode = tc.mode
		d.With("a", func(tx *Txn) {
			c, st := m.Find(tx, tc.uri, tc.callID, "", tc.cseq)
			if st != tc.want || (c != nil) != tc.wantURIFound {
				t.Errorf("mode %d %s %s %d: %v %d, want %d", tc.mode, tc.uri, tc.callID, tc.cseq, c, st, tc.want)
			}
		})
	}
	// same CSeq after cseq_delay: invalid, not a retransmission
	m.matchingMode = MatchContact
	m.SetClock(func() int64 { return 1020 })
	d.now = m.now
	d.With("a", func(tx *Txn) {
		if _, st := m.Find(tx, "sip:a@1", "c1", "", 10); st != InvalidCSeq {
			t.Errorf("same CSeq after cseq_delay: %d", st)
		}
	})
}

// TestConcurrentAccess exercises the slot locks under -race.
func TestConcurrentAccess(t *testing.T) {
	m := New()
	d := m.RegisterDomain("location")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				aor := fmt.Sprintf("u%d", i%50)
				d.With(aor, func(tx *Txn) {
					if i%7 == 0 {
						tx.DeleteRecord()
						return
					}
					tx.Insert(&Contact{URI: fmt.Sprintf("sip:%d@%d", g, i), Expires: m.Now() + 60})
				})
				d.View(aor, func(r *Record) {})
				if i%100 == 0 {
					d.Expire(m.Now())
				}
			}
		}(g)
	}
	wg.Wait()
	var n int64
	d.Range(func(r *Record) bool { n += int64(len(r.Contacts)); return true }, nil)
	if n != d.ContactCount() {
		t.Errorf("contact counter %d, counted %d", d.ContactCount(), n)
	}
}

func TestFixAOR(t *testing.T) {
	m := New()
	if got, err := m.FixAOR("Alice@Example.COM"); err != nil || got != "alice" {
		t.Errorf("%q %v", got, err)
	}
	m.useDomain = 1
	if got, err := m.FixAOR("Alice@Example.COM"); err != nil || got != "alice@example.com" {
		t.Errorf("%q %v", got, err)
	}
	if _, err := m.FixAOR("alice"); err == nil {
		t.Error("use_domain without domain accepted")
	}
}
