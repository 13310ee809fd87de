package script

import (
	"regexp"
	"sync"

	"github.com/sipht/sipht/internal/cfg"
)

type regexpT = regexp.Regexp

// regexCache keeps regular expressions compiled at run time (=~ with a
// non-constant right side). It is bounded: when full it is emptied.
type regexCache struct {
	mu  sync.Mutex
	max int
	m   map[string]regexEntry
}

type regexEntry struct {
	re  *regexp.Regexp
	err error
}

func newRegexCache(max int) *regexCache {
	return &regexCache{max: max, m: map[string]regexEntry{}}
}

// get returns the case-insensitive ERE for pat.
func (rc *regexCache) get(pat string) (*regexp.Regexp, error) {
	rc.mu.Lock()
	e, ok := rc.m[pat]
	rc.mu.Unlock()
	if ok {
		return e.re, e.err
	}
	re, err := cfg.CompileERE(pat, true)
	rc.mu.Lock()
	if len(rc.m) >= rc.max {
		clear(rc.m)
	}
	rc.m[pat] = regexEntry{re, err}
	rc.mu.Unlock()
	return re, err
}
