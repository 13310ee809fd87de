package textopsx

// Fnmatch reports whether name matches the shell pattern (fnmatch(3)
// without flags: '*' and '?' also match '/', "[...]" classes with '!' or
// '^' negation and ranges, '\' escapes the next character). A malformed
// class is matched literally, as glibc does.
func Fnmatch(pattern, name string) bool {
	// iterative matcher with backtracking on the last '*'
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p++
				n++
				continue
			case '[':
				if ok, np, valid := matchClass(pattern, p, name[n]); valid {
					if ok {
						p = np
						n++
						continue
					}
				} else if name[n] == '[' {
					p++
					n++
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == name[n] {
					p += 2
					n++
					continue
				}
				if p+1 == len(pattern) && name[n] == '\\' {
					p++
					n++
					continue
				}
			default:
				if c == name[n] {
					p++
					n++
					continue
				}
			}
		}
		if starP >= 0 {
			p = starP + 1
			starN++
			n = starN
			continue
		}
		return false
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the bracket expression at pattern[p]; it
// returns the offset after the class, and valid=false when the class does
// not end.
func matchClass(pattern string, p int, c byte) (ok bool, next int, valid bool) {
	i := p + 1
	neg := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return ok != neg, i + 1, true
		}
		first = false
		lo := pattern[i]
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			if hi == '\\' && i+3 < len(pattern) {
				hi = pattern[i+3]
				i++
			}
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, 0, false
}
