package sipmsg

import (
	"regexp"
	"strings"

	"github.com/sipht/sipht/internal/cfg"
)

// RegexFlags are the regcomp flags a Kamailio function compiles with.
type RegexFlags uint8

// Regex flags.
const (
	// ICase is REG_ICASE.
	ICase RegexFlags = 1 << iota
	// Newline is REG_NEWLINE: '.' and non-matching bracket lists do not
	// match a newline, '^' and '$' match at line starts and ends.
	Newline
)

// CompileRegex compiles a POSIX extended regular expression the way
// Kamailio's regcomp(REG_EXTENDED|flags) would treat it (see
// cfg.CompileERE for the translation), with POSIX leftmost-longest match
// extents, which matter for what subst() and replace() cut out.
func CompileRegex(pattern string, flags RegexFlags) (*regexp.Regexp, error) {
	tr := cfg.TranslateERE(pattern)
	prefix := "(?s"
	if flags&Newline != 0 {
		tr = newlineBrackets(tr)
		prefix = "(?m"
	}
	if flags&ICase != 0 {
		prefix += "i"
	}
	re, err := regexp.Compile(prefix + ")" + tr)
	if err != nil {
		return nil, err
	}
	re.Longest()
	return re, nil
}

// newlineBrackets adds \n to every negated bracket expression of an RE2
// pattern produced by cfg.TranslateERE ("[^a]" -> "[^a\n]"), as POSIX
// REG_NEWLINE requires.
func newlineBrackets(p string) string {
	if !strings.Contains(p, "[^") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			b.WriteByte(c)
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		case '[':
			// a class: copy to its end, adding \n after a leading '^'
			b.WriteByte('[')
			j := i + 1
			if j < len(p) && p[j] == '^' {
				b.WriteString(`^\n`)
				j++
			}
			for ; j < len(p); j++ {
				if p[j] == '\\' && j+1 < len(p) {
					b.WriteByte(p[j])
					j++
					b.WriteByte(p[j])
					continue
				}
				if p[j] == '[' && j+1 < len(p) && p[j+1] == ':' {
					// [:class:]
					if k := strings.Index(p[j:], ":]"); k > 0 {
						b.WriteString(p[j : j+k+2])
						j += k + 1
						continue
					}
				}
				b.WriteByte(p[j])
				if p[j] == ']' {
					break
				}
			}
			i = j
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
