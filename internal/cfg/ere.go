package cfg

import (
	"regexp"
	"strings"
)

// CompileERE compiles a POSIX extended regular expression (as Kamailio
// passes to regcomp(REG_EXTENDED)) with Go's RE2 engine. icase adds
// REG_ICASE. The translation handles the differences that matter in
// routing scripts:
//
//   - inside a bracket expression a backslash is an ordinary character in
//     POSIX ("[\.]" matches a backslash or a dot);
//   - the GNU word-boundary operators \< and \> become \b;
//   - a '{' that does not start a valid interval is a literal.
//
// Not supported (RE2 has no equivalent): back-references (\1 in the
// pattern), POSIX leftmost-longest alternation semantics (matching is
// unanchored yes/no, so only submatch extents could differ), collating
// elements [[.x.]] and equivalence classes [[=x=]].
func CompileERE(pattern string, icase bool) (*regexp.Regexp, error) {
	tr := TranslateERE(pattern)
	if icase {
		tr = "(?i)" + tr
	}
	return regexp.Compile(tr)
}

// TranslateERE rewrites a POSIX ERE into RE2 syntax (see CompileERE).
func TranslateERE(p string) string {
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 < len(p) {
				n := p[i+1]
				switch n {
				case '<', '>':
					b.WriteString(`\b`)
				default:
					b.WriteByte('\\')
					b.WriteByte(n)
				}
				i++
				continue
			}
			b.WriteString(`\\`)
		case '[':
			j := bracketEnd(p, i)
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			b.WriteByte('[')
			k := i + 1
			if k < j && p[k] == '^' {
				b.WriteByte('^')
				k++
			}
			if k < j && p[k] == ']' {
				b.WriteString(`\]`)
				k++
			}
			for ; k < j; k++ {
				if p[k] == '[' && k+1 < j && (p[k+1] == ':' || p[k+1] == '.' || p[k+1] == '=') {
					end := strings.Index(p[k+2:j], string(p[k+1])+"]")
					if end >= 0 {
						b.WriteString(p[k : k+2+end+2])
						k += 2 + end + 1
						continue
					}
				}
				switch p[k] {
				case '\\', '[':
					b.WriteByte('\\')
				}
				b.WriteByte(p[k])
			}
			b.WriteByte(']')
			i = j
		case '{':
			if validInterval(p[i:]) {
				b.WriteByte('{')
			} else {
				b.WriteString(`\{`)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// bracketEnd returns the index of the ']' closing the bracket expression
// that starts at p[i]=='[', or -1.
func bracketEnd(p string, i int) int {
	k := i + 1
	if k < len(p) && p[k] == '^' {
		k++
	}
	if k < len(p) && p[k] == ']' {
		k++
	}
	for ; k < len(p); k++ {
		if p[k] == '[' && k+1 < len(p) && (p[k+1] == ':' || p[k+1] == '.' || p[k+1] == '=') {
			end := strings.Index(p[k+2:], string(p[k+1])+"]")
			if end >= 0 {
				k += 2 + end + 1
				continue
			}
		}
		if p[k] == ']' {
			return k
		}
	}
	return -1
}

func validInterval(s string) bool {
	// s starts with '{': {n}, {n,}, {n,m}
	i := 1
	d := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		d++
	}
	if d == 0 {
		return false
	}
	if i < len(s) && s[i] == '}' {
		return true
	}
	if i >= len(s) || s[i] != ',' {
		return false
	}
	i++
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i < len(s) && s[i] == '}'
}
