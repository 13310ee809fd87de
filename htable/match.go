package htable

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"sync"
)

// MatchOp is a way to match item names or string values.
type MatchOp uint8

const (
	// MatchRegex matches a POSIX extended regular expression,
	// case-insensitively ("re").
	MatchRegex MatchOp = iota + 1
	// MatchPrefix matches names or values that start with the pattern
	// ("sw").
	MatchPrefix
	// MatchSuffix matches names or values that end with the pattern
	// ("ew").
	MatchSuffix
	// MatchContains matches names or values that contain the pattern
	// ("in").
	MatchContains
	// MatchEqual matches names or values equal to the pattern ("eq").
	MatchEqual
	// MatchNotEqual matches names or values that differ from the pattern
	// ("ne").
	MatchNotEqual
)

var matchNames = [...]string{"", "re", "sw", "ew", "in", "eq", "ne"}

// String returns the Kamailio operator name ("re", "sw", ...).
func (m MatchOp) String() string {
	if m > 0 && int(m) < len(matchNames) {
		return matchNames[m]
	}
	return "match(" + itoa(int64(m)) + ")"
}

// ParseMatchOp parses a Kamailio operator name: re, sw, ew, in, eq, ne.
func ParseMatchOp(s string) (MatchOp, error) {
	for i, n := range matchNames {
		if i > 0 && n == s {
			return MatchOp(i), nil
		}
	}
	return 0, fmt.Errorf("htable: unknown match operator %q (want re, sw, ew, in, eq or ne)", s)
}

// matcher tests one name or value.
type matcher struct {
	op  MatchOp
	pat []byte
	re  *regexp.Regexp
}

func (m *matcher) match(b []byte) bool {
	switch m.op {
	case MatchRegex:
		return m.re.Match(b)
	case MatchPrefix:
		return bytes.HasPrefix(b, m.pat)
	case MatchSuffix:
		return bytes.HasSuffix(b, m.pat)
	case MatchContains:
		return bytes.Contains(b, m.pat)
	case MatchEqual:
		return bytes.Equal(b, m.pat)
	case MatchNotEqual:
		return !bytes.Equal(b, m.pat)
	}
	return false
}

func (t *Table) matcher(op MatchOp, pattern string) (*matcher, error) {
	if op < MatchRegex || op > MatchNotEqual {
		return nil, fmt.Errorf("htable: unknown match operator %d", op)
	}
	if pattern == "" {
		return nil, fmt.Errorf("htable: empty %s pattern", op)
	}
	m := &matcher{op: op, pat: []byte(pattern)}
	if op == MatchRegex {
		re, err := t.re.get(pattern)
		if err != nil {
			return nil, err
		}
		m.re = re
	}
	return m, nil
}

// reCache keeps compiled regular expressions (scripts use a few constant
// patterns). It is bounded: it is emptied when it reaches reCacheMax.
type reCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

const reCacheMax = 128

// CompileRegex compiles a pattern with the semantics Kamailio gives
// htable regexes (regcomp with REG_EXTENDED|REG_ICASE|REG_NEWLINE):
// case-insensitive, unanchored, '^' and '$' also match at newlines. Go's
// RE2 syntax is used; it accepts the POSIX ERE constructs scripts use.
func CompileRegex(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("(?im)" + pattern)
	if err != nil {
		return nil, fmt.Errorf("htable: bad regular expression %q: %w", pattern, err)
	}
	return re, nil
}

func (c *reCache) get(p string) (*regexp.Regexp, error) {
	c.mu.Lock()
	re := c.m[p]
	c.mu.Unlock()
	if re != nil {
		return re, nil
	}
	re, err := CompileRegex(p)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= reCacheMax {
		c.m = make(map[string]*regexp.Regexp)
	}
	c.m[p] = re
	c.mu.Unlock()
	return re, nil
}

// scan calls fn for every live, unexpired entry, one slot at a time with
// that slot locked; fn returns false to stop. Entries may be killed by fn;
// the slot is compacted afterwards if compact is set.
func (t *Table) scan(purge bool, fn func(d *slotData, e *entry, pos int) bool) {
	now := t.now()
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		s := t.slotIfAny(i)
		s.mu.Lock()
		d := &s.d
		if d.n == 0 {
			s.mu.Unlock()
			continue
		}
		goOn := true
		cells := d.tab()
		for j := range cells {
			e := &cells[j]
			if !e.used() || e.dead() || t.expired(e, now) {
				continue
			}
			if !fn(d, e, j) {
				goOn = false
				break
			}
		}
		if purge {
			d.purgeDead()
		}
		s.mu.Unlock()
		if !goOn {
			return
		}
	}
}

// CountNames counts the live items whose name matches expr, with the
// syntax of Kamailio's $shtcn(table=>expr): a prefix selects the test,
//
//	~~re   regular expression (also: no prefix)
//	~%s    name ends with s
//	%~s    name starts with s
//	==s    name equals s
//	eqN    (values only) always 0 for names
//	**     every item
//
// The error reports a bad regular expression (Kamailio counts 0).
func (t *Table) CountNames(expr string) (int, error) { return t.count(expr, false) }

// CountValues is CountNames for string values ($shtcv); "eqN" counts the
// integer items equal to N and the other tests only look at string items.
func (t *Table) CountValues(expr string) (int, error) { return t.count(expr, true) }

func (t *Table) count(expr string, values bool) (int, error) {
	if expr == "" {
		return 0, nil
	}
	var op MatchOp
	all, inteq := false, false
	pat := expr
	if len(expr) >= 2 {
		switch expr[:2] {
		case "~~":
			op = MatchRegex
		case "~%":
			op = MatchSuffix
		case "%~":
			op = MatchPrefix
		case "==":
			op = MatchEqual
		case "eq":
			inteq = true
		case "**":
			all = true
		}
	}
	if all {
		n := 0
		t.scan(false, func(*slotData, *entry, int) bool { n++; return true })
		return n, nil
	}
	if op != 0 || inteq {
		if len(expr) <= 2 {
			return 0, nil
		}
		pat = expr[2:]
	} else {
		op = MatchRegex
	}
	n := 0
	if inteq {
		if !values {
			return 0, nil
		}
		want := kamailioAtoi(pat)
		t.scan(false, func(d *slotData, e *entry, _ int) bool {
			if !e.isStr() && e.num == want {
				n++
			}
			return true
		})
		return n, nil
	}
	m, err := t.matcher(op, pat)
	if err != nil {
		return 0, err
	}
	t.scan(false, func(d *slotData, e *entry, _ int) bool {
		if values {
			if e.isStr() && m.match(d.str(e)) {
				n++
			}
		} else if m.match(d.key(e)) {
			n++
		}
		return true
	})
	return n, nil
}

// kamailioAtoi reads an optional sign and the leading decimal digits, as
// Kamailio's str2sint leaves its result on bad input.
func kamailioAtoi(s string) int64 {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return n
		}
		return 0
	}
	return n
}

// HasName reports whether a live item's name matches pattern with op
// (Kamailio's sht_match_name / sht_has_name, ops eq, ne, re, sw; sipht
// also accepts ew and in).
func (t *Table) HasName(op MatchOp, pattern string) (bool, error) { return t.has(op, pattern, false) }

// HasStrValue is HasName for string values (sht_has_str_value).
func (t *Table) HasStrValue(op MatchOp, pattern string) (bool, error) {
	return t.has(op, pattern, true)
}

func (t *Table) has(op MatchOp, pattern string, values bool) (bool, error) {
	m, err := t.matcher(op, pattern)
	if err != nil {
		return false, err
	}
	found := false
	t.scan(false, func(d *slotData, e *entry, _ int) bool {
		if values {
			found = e.isStr() && m.match(d.str(e))
		} else {
			found = m.match(d.key(e))
		}
		return !found
	})
	return found, nil
}

// RemoveNames removes the live items whose name matches pattern with op
// (Kamailio's sht_rm_name_re, sht_rm_name(table, op, pattern)) and returns
// how many it removed. Subscribers get one OpRemoved per item and one
// OpRemoveMatch at the end. Expired items are left to the sweeper.
func (t *Table) RemoveNames(op MatchOp, pattern string) (int, error) {
	return t.remove(OriginLocal, op, pattern, false)
}

// RemoveValues is RemoveNames for string values (sht_rm_value_re,
// sht_rm_value); integer items never match.
func (t *Table) RemoveValues(op MatchOp, pattern string) (int, error) {
	return t.remove(OriginLocal, op, pattern, true)
}

// RemoveNames is Table.RemoveNames with w's origin.
func (w Writer) RemoveNames(op MatchOp, pattern string) (int, error) {
	return w.t.remove(w.o, op, pattern, false)
}

// RemoveValues is Table.RemoveValues with w's origin.
func (w Writer) RemoveValues(op MatchOp, pattern string) (int, error) {
	return w.t.remove(w.o, op, pattern, true)
}

func (t *Table) remove(o Origin, op MatchOp, pattern string, values bool) (int, error) {
	m, err := t.matcher(op, pattern)
	if err != nil {
		return 0, err
	}
	mt := Match{Op: op, Pattern: pattern, Values: values}
	n := 0
	t.scan(true, func(d *slotData, e *entry, pos int) bool {
		var hit bool
		if values {
			hit = e.isStr() && m.match(d.str(e))
		} else {
			hit = m.match(d.key(e))
		}
		if hit {
			if t.hasSubs() {
				t.emit(&Change{Op: OpRemoved, Origin: o, Applied: true, Key: string(d.key(e)), Value: d.value(e), Expire: int64(e.expire), Match: mt})
			}
			d.markDead(pos)
			d.ext().deletes++
			t.removed(1)
			n++
		}
		return true
	})
	if t.hasSubs() {
		t.emit(&Change{Op: OpRemoveMatch, Origin: o, Applied: n > 0, Match: mt, Count: n})
	}
	return n, nil
}
