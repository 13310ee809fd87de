package htable

// Origin tells on whose behalf a change was made, so that subscribers can
// skip changes they caused themselves (a DMQ replicator skips
// OriginRemote, a database writer skips OriginLoad).
type Origin uint8

const (
	// OriginLocal is a change made by this node: the script, an RPC
	// command, a Go caller, the sweeper, an eviction.
	OriginLocal Origin = iota
	// OriginRemote is a change received from a cluster peer (DMQ).
	OriginRemote
	// OriginLoad is a change loaded from a database.
	OriginLoad
)

// String returns "local", "remote", "load" or "origin(N)".
func (o Origin) String() string {
	switch o {
	case OriginLocal:
		return "local"
	case OriginRemote:
		return "remote"
	case OriginLoad:
		return "load"
	}
	return "origin(" + itoa(int64(o)) + ")"
}

// Op is the kind of a Change.
type Op uint8

const (
	// OpSet: Key was set to Value (a Set, SetWithExpire or iterator
	// write). Expire is the item's absolute expiry after the change. TTL
	// is the explicit lifetime given to SetWithExpire (0 = table rule):
	// a Kamailio peer receives that as SET_CELL then SET_CELL_EXPIRE.
	OpSet Op = iota + 1
	// OpDelete: Key was deleted. Value is the removed value, null when
	// no live item existed (Applied is then false; Kamailio still
	// replicates such deletes).
	OpDelete
	// OpAdd: Delta was added to Key ($shtinc, $shtdec); Value is the
	// result, Expire the expiry after the change.
	OpAdd
	// OpSetExpire: Key's lifetime was set to TTL seconds from now (0 =
	// never); Expire is the resulting absolute expiry. Applied is false
	// when the key was missing or the table has no autoexpire.
	OpSetExpire
	// OpRemoved: Key (old Value) was removed by a RemoveNames or
	// RemoveValues call; Match describes it. One OpRemoveMatch follows
	// the OpRemoved changes of a call.
	OpRemoved
	// OpRemoveMatch: a RemoveNames/RemoveValues call finished; Match
	// holds the pattern, Count the number of items removed.
	OpRemoveMatch
	// OpReset: all items were removed (Reset, htable.flush); Count is the
	// number removed. No per-key changes are sent.
	OpReset
	// OpExpired: the sweeper removed the expired Key (Value, Expire).
	OpExpired
	// OpEvicted: Key (Value) was evicted to make room in a table with
	// maxitems.
	OpEvicted
	// OpImport: Key was loaded with Value and absolute Expire (Import).
	OpImport
	// OpReplace: the whole content was replaced (Replace, htable.reload);
	// Count is the number of items loaded. No per-key changes are sent.
	OpReplace
)

var opNames = [...]string{"", "set", "delete", "add", "setexpire", "removed", "removematch", "reset", "expired", "evicted", "import", "replace"}

// String returns the lower-case name of o.
func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return "op(" + itoa(int64(o)) + ")"
}

// Change describes one mutation of a table. Subscribers receive a pointer
// that is only valid during the call; copy what you keep (the strings
// may be kept: they are not reused).
type Change struct {
	Table  *Table
	Op     Op
	Origin Origin
	// Applied is false when the operation found nothing to change (a
	// delete of a missing key, an expire change on a missing key).
	Applied bool
	Key     string
	Value   Value
	Delta   int64
	// Expire is the absolute expiry (Unix seconds, 0 = never).
	Expire int64
	// TTL is the relative lifetime given by the caller, see OpSet and
	// OpSetExpire.
	TTL   int64
	Match Match
	Count int
}

// Match describes a removal by pattern.
type Match struct {
	Op      MatchOp
	Pattern string
	// Values is true when values were matched, false for names.
	Values bool
}

// Subscriber receives changes.
//
// A subscriber is called synchronously by the goroutine that made the
// change and, for per-key changes, while that key's slot is locked: this
// keeps the changes of one key in order. It must therefore return quickly
// and must not block, and it must not call methods of the same Table (it
// would deadlock on the slot lock). Typical subscribers append the change
// to a queue that another goroutine drains.
type Subscriber func(c *Change)

type subscription struct{ fn Subscriber }

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
