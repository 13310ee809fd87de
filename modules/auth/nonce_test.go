package auth

import (
	"encoding/base64"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(c.t.Load(), 0) }
func (c *fakeClock) add(d time.Duration) { c.t.Add(int64(d / time.Second)) }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(1_800_000_000)
	return c
}

func mustNonces(t testing.TB, o NonceOptions) *Nonces {
	t.Helper()
	n, err := NewNonces(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNonceLifecycle(t *testing.T) {
	clk := newClock()
	n := mustNonces(t, NonceOptions{Secret: []byte("s3cret"), Expire: 300 * time.Second, MaxDrift: 3 * time.Second, Now: clk.now})
	nonce := n.New(nil)
	if len(nonce) != 32 {
		t.Errorf("nonce %q has length %d, want 32 (like Kamailio's)", nonce, len(nonce))
	}
	if st := n.Check(nonce, nil, ""); st != NonceOK {
		t.Fatalf("fresh nonce: %v", st)
	}
	clk.add(300 * time.Second)
	if st := n.Check(nonce, nil, ""); st != NonceOK {
		t.Fatalf("nonce at its expiry second: %v", st)
	}
	clk.add(time.Second)
	if st := n.Check(nonce, nil, ""); st != NonceStale {
		t.Fatalf("expired nonce: %v, want stale", st)
	}
}

func TestNonceSecrets(t *testing.T) {
	clk := newClock()
	a := mustNonces(t, NonceOptions{Secret: []byte("shared"), Now: clk.now})
	b := mustNonces(t, NonceOptions{Secret: []byte("shared"), Now: clk.now})
	other := mustNonces(t, NonceOptions{Secret: []byte("other"), Now: clk.now})
	random := mustNonces(t, NonceOptions{Now: clk.now})
	nonce := a.New(nil)
	if st := b.Check(nonce, nil, ""); st != NonceOK {
		t.Errorf("node with the same secret: %v, want ok", st)
	}
	if st := other.Check(nonce, nil, ""); st != NonceInvalid {
		t.Errorf("node with another secret: %v, want invalid", st)
	}
	if st := random.Check(nonce, nil, ""); st != NonceInvalid {
		t.Errorf("random secret: %v, want invalid", st)
	}
	// tampering: flip one bit of the MAC, of the expiry; truncate; garbage
	raw, _ := base64.RawStdEncoding.DecodeString(nonce)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x01
		s := base64.RawStdEncoding.EncodeToString(bad)
		st := a.Check(s, nil, "")
		// a flipped "since" byte may look like a nonce from before the
		// start or from the future: stale, never ok
		if st == NonceOK {
			t.Errorf("nonce with byte %d flipped accepted", i)
		}
	}
	for _, s := range []string{"", "abc", nonce[:31], nonce + "AAAA", "!!!!" + nonce[4:], string(make([]byte, 200))} {
		if st := a.Check(s, nil, ""); st == NonceOK {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestNonceFromBeforeStartIsStale(t *testing.T) {
	clk := newClock()
	old := mustNonces(t, NonceOptions{Secret: []byte("x"), Now: clk.now})
	nonce := old.New(nil)
	clk.add(10 * time.Second)
	// restart with a new random secret: Kamailio answers stale (the UA
	// re-authenticates without asking its user), not invalid
	restarted := mustNonces(t, NonceOptions{Now: clk.now})
	if st := restarted.Check(nonce, nil, ""); st != NonceStale {
		t.Errorf("nonce from the previous run: %v, want stale", st)
	}
}

func TestNonceFromTheFuture(t *testing.T) {
	clk := newClock()
	n := mustNonces(t, NonceOptions{Secret: []byte("x"), MaxDrift: 3 * time.Second, Now: clk.now})
	clk.add(3 * time.Second)
	ahead := n.New(nil)
	clk.add(-3 * time.Second)
	if st := n.Check(ahead, nil, ""); st != NonceOK {
		t.Errorf("3 s ahead: %v, want ok", st)
	}
	clk.add(4 * time.Second)
	further := n.New(nil)
	clk.add(-4 * time.Second)
	if st := n.Check(further, nil, ""); st != NonceStale {
		t.Errorf("4 s ahead: %v, want stale", st)
	}
}

func TestNonceCount(t *testing.T) {
	clk := newClock()
	n := mustNonces(t, NonceOptions{Secret: []byte("x"), NonceCount: true, NCArraySize: 8, Now: clk.now})
	nonce := n.New(nil)
	if len(nonce) != 39 {
		t.Errorf("nonce with id: length %d, want 39", len(nonce))
	}
	steps := []struct {
		nc   string
		want NonceStatus
	}{
		{"00000001", NonceOK}, {"00000001", NonceStale}, {"00000003", NonceOK}, {"00000002", NonceStale},
		{"000000ff", NonceOK}, {"00000100", NonceStale}, {"1", NonceBadNC}, {"0000000g", NonceBadNC},
		{"", NonceOK}, // no qop: no nc check (as Kamailio)
	}
	for _, s := range steps {
		if st := n.Check(nonce, nil, s.nc); st != s.want {
			t.Errorf("nc %q: %v, want %v", s.nc, st, s.want)
		}
	}
	// the table is bounded: after 8 newer nonces this one's slot is reused
	for i := 0; i < 8; i++ {
		n.New(nil)
	}
	if st := n.Check(nonce, nil, "000000fe"); st != NonceStale {
		t.Errorf("nonce older than the nc table: %v, want stale", st)
	}
}

func TestOneTimeNonce(t *testing.T) {
	clk := newClock()
	n := mustNonces(t, NonceOptions{Secret: []byte("x"), OneTime: true, OTNInFlight: 64, Now: clk.now})
	nonce := n.New(nil)
	if st := n.Check(nonce, nil, ""); st != NonceOK {
		t.Fatalf("first use: %v", st)
	}
	if st := n.Check(nonce, nil, ""); st != NonceReused {
		t.Errorf("second use: %v, want reused", st)
	}
	// a nonce made without one-time tracking is stale for a server that
	// tracks (Kamailio: "not marked as one-time")
	plain := mustNonces(t, NonceOptions{Secret: []byte("x"), Now: clk.now}).New(nil)
	if st := n.Check(plain, nil, ""); st != NonceInvalid && st != NonceStale {
		t.Errorf("plain nonce: %v", st)
	}
	var wg sync.WaitGroup
	var oks atomic.Int32
	fresh := n.New(nil)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.Check(fresh, nil, "") == NonceOK {
				oks.Add(1)
			}
		}()
	}
	wg.Wait()
	if oks.Load() != 1 {
		t.Errorf("concurrent uses of a one-time nonce: %d accepted, want 1", oks.Load())
	}
}

func TestNonceExtraChecks(t *testing.T) {
	clk := newClock()
	n := mustNonces(t, NonceOptions{Secret: []byte("x"), Now: clk.now})
	d := &CheckData{Flags: CheckCallID | CheckSrcIP | CheckFromTag | CheckRURI, CallID: "c1", FromTag: "t1",
		RURI: "sip:a@b", SrcIP: netip.MustParseAddr("192.0.2.1")}
	nonce := n.New(d)
	if st := n.Check(nonce, d, ""); st != NonceOK {
		t.Fatalf("same data: %v", st)
	}
	for _, mod := range []func(*CheckData){
		func(x *CheckData) { x.CallID = "c2" },
		func(x *CheckData) { x.FromTag = "t2" },
		func(x *CheckData) { x.RURI = "sip:a@c" },
		func(x *CheckData) { x.SrcIP = netip.MustParseAddr("192.0.2.2") },
	} {
		x := *d
		mod(&x)
		if st := n.Check(nonce, &x, ""); st != NonceStale {
			t.Errorf("changed data %+v: %v, want stale", x, st)
		}
	}
	// a nonce made without checks, presented where checks apply: wrong
	// length, invalid
	if st := n.Check(n.New(nil), d, ""); st != NonceInvalid {
		t.Errorf("nonce without checks: %v, want invalid", st)
	}
}

func TestNonceNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful with -race")
	}
	n := mustNonces(t, NonceOptions{Secret: []byte("x")})
	nonce := n.New(nil)
	buf := make([]byte, 0, MaxLen)
	allocs := testing.AllocsPerRun(200, func() {
		buf = n.Append(buf[:0], nil)
		if n.Check(nonce, nil, "") != NonceOK {
			t.Fatal("check failed")
		}
	})
	if allocs > 0 {
		t.Errorf("nonce create+check allocates %.1f times", allocs)
	}
}

func FuzzNonceCheck(f *testing.F) {
	clk := newClock()
	n := mustNonces(f, NonceOptions{Secret: []byte("fuzz"), NonceCount: true, OneTime: true, NCArraySize: 64, OTNInFlight: 64, Now: clk.now})
	f.Add(n.New(nil), "00000001")
	f.Add("", "")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "zz")
	f.Fuzz(func(t *testing.T, nonce, nc string) {
		st := n.Check(nonce, nil, nc)
		if st == NonceOK {
			// only nonces we made can be ok: decode must succeed
			if _, err := base64.RawStdEncoding.DecodeString(nonce); err != nil {
				t.Fatalf("undecodable nonce %q accepted", nonce)
			}
		}
		n.Check(nonce, &CheckData{Flags: 15, CallID: nc}, nc)
	})
}
