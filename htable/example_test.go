package htable_test

import (
	"context"
	"fmt"

	"github.com/sipht/sipht/htable"
)

// A rate limiter: count failed logins per source IP, refuse after five,
// forgive after five minutes.
func Example() {
	tables := htable.NewRegistry()
	failures, err := tables.Define("auth_fail=>size=8;autoexpire=300;initval=0")
	if err != nil {
		panic(err)
	}
	// Expired items are removed every 20 seconds (timer_interval) while
	// Run is active.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go tables.Run(ctx)

	for attempt := 1; attempt <= 6; attempt++ {
		n, _ := failures.Inc("192.0.2.7") // $shtinc(auth_fail=>$si)
		if n > 5 {
			fmt.Println("attempt", attempt, "refused: 429 Rate limiting")
			continue
		}
		fmt.Println("attempt", attempt, "failures", n)
	}
	fmt.Println("seconds until forgiven:", failures.TTL("192.0.2.7"))
	fmt.Println("other IP:", failures.GetInit("198.51.100.1")) // initval

	// Output:
	// attempt 1 failures 1
	// attempt 2 failures 2
	// attempt 3 failures 3
	// attempt 4 failures 4
	// attempt 5 failures 5
	// attempt 6 refused: 429 Rate limiting
	// seconds until forgiven: 300
	// other IP: 0
}

// Expiry with an injected clock, the expired-item handler and a change
// subscriber.
func ExampleTable_OnExpired() {
	now := int64(1_700_000_000)
	tables := htable.NewRegistry(htable.WithClock(func() int64 { return now }))
	bans, _ := tables.Define("ipban=>size=4;autoexpire=60")
	bans.OnExpired(func(it htable.Item) { // event_route[htable:expired:ipban]
		fmt.Println("unbanned", it.Key)
	})
	tables.Subscribe(func(c *htable.Change) { // e.g. replicate or persist
		fmt.Println("change:", c.Op, c.Key, c.Value)
	})

	bans.SetStr("203.0.113.9", "flood")
	now += 61
	_, ok := bans.Get("203.0.113.9")
	fmt.Println("still banned:", ok)
	tables.Sweep()

	// Output:
	// change: set 203.0.113.9 flood
	// still banned: false
	// unbanned 203.0.113.9
	// change: expired 203.0.113.9 flood
}

// Dumping a table slot by slot, as htable.dump does.
func ExampleTable_Dump() {
	t, _ := htable.New(htable.NewDef("t")) // size=4: 16 slots
	t.SetInt("bob", 42)
	t.SetStr("15", "x")
	t.SetStr("alice", "hello")
	t.Dump(func(s htable.SlotView) error {
		for _, it := range s.Items {
			fmt.Printf("entry %d: %s = %v (%s)\n", s.Index, it.Key, it.Value(), it.Kind)
		}
		return nil
	})
	// Output:
	// entry 3: bob = 42 (int)
	// entry 10: 15 = x (str)
	// entry 13: alice = hello (str)
}

// Keys built in a reused buffer: no allocation per lookup.
func ExampleTable_AddBytes() {
	t, _ := htable.New(htable.NewDef("cnt"))
	buf := make([]byte, 0, 64)
	for _, user := range []string{"alice", "bob", "alice"} {
		buf = append(buf[:0], "reg::"...)
		buf = append(buf, user...)
		if _, ok := t.AddBytes(buf, 1); !ok {
			t.SetIntBytes(buf, 1) // no initval: the first Add finds nothing
		}
	}
	v, _ := t.Get("reg::alice")
	fmt.Println(v)
	// Output: 2
}
