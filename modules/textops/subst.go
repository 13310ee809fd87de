package textops

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// substExpr is a compiled sed-like "/re/replacement/flags" expression
// (Kamailio's subst_expr, used by subst, subst_uri, subst_user and
// subst_body).
type substExpr struct {
	re  *regexp.Regexp
	all bool // g flag
	rpl []rplPart
}

type rplKind uint8

const (
	rplText  rplKind = iota
	rplGroup         // \0 .. \9
	rplURI           // \u: the current R-URI
	rplPV            // $pv
)

type rplPart struct {
	kind  rplKind
	text  string
	group int
	pv    *script.Format
}

// maxReplacement is Kamailio's REPLACE_BUFFER_SIZE - 1: a longer
// replacement text is an error.
const maxReplacement = 1023

// maxEscapes is Kamailio's MAX_REPLACE_WITH: escapes and PVs in one
// replacement.
const maxEscapes = 100

// parseSubst parses a subst expression. pv compiles a pseudo-variable
// found in the replacement.
func parseSubst(s string, pv func(string) (*script.Format, error)) (*substExpr, error) {
	if len(s) < 3 {
		return nil, errors.New("expression is too short")
	}
	sep := s[0]
	if sep == '\\' {
		return nil, fmt.Errorf("invalid separator %q", sep)
	}
	// the regular expression ends at the first separator not preceded by '\'
	p := 1
	for ; p < len(s); p++ {
		if s[p] == sep && s[p-1] != '\\' {
			break
		}
	}
	if p >= len(s) {
		return nil, errors.New("no separator found")
	}
	reText := s[1:p]
	if len(s) < p+2 {
		return nil, errors.New("string too short")
	}
	// replacement
	se := &substExpr{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			se.rpl = append(se.rpl, rplPart{kind: rplText, text: string(lit)})
			lit = nil
		}
	}
	escapes := 0
	q := p + 1
	found := false
	for ; q < len(s); q++ {
		c := s[q]
		if c == '\\' && q+1 < len(s) {
			q++
			e := s[q]
			escapes++
			switch e {
			case '\\':
				lit = append(lit, '\\')
			case 'n':
				lit = append(lit, '\n')
			case 'r':
				lit = append(lit, '\r')
			case 't':
				lit = append(lit, '\t')
			case '$':
				lit = append(lit, '$')
			case 'u':
				flush()
				se.rpl = append(se.rpl, rplPart{kind: rplURI})
			default:
				if e >= '0' && e <= '9' {
					flush()
					se.rpl = append(se.rpl, rplPart{kind: rplGroup, group: int(e - '0')})
				} else {
					lit = append(lit, e) // \<sep> and unknown escapes
				}
			}
			if escapes >= maxEscapes {
				return nil, errors.New("too many escapes in the replacement")
			}
			continue
		}
		if c == '\\' { // a lone '\' at the end
			continue
		}
		if c == '$' {
			spec, n, err := cfg.ParsePV(s[q:])
			if err != nil {
				return nil, fmt.Errorf("bad pseudo-variable in the replacement: %v", err)
			}
			f, err := pv(spec.Text)
			if err != nil {
				return nil, err
			}
			flush()
			se.rpl = append(se.rpl, rplPart{kind: rplPV, pv: f})
			escapes++
			if escapes >= maxEscapes {
				return nil, errors.New("too many escapes in the replacement")
			}
			q += n - 1
			continue
		}
		if c == sep {
			found = true
			break
		}
		lit = append(lit, c)
	}
	if !found {
		return nil, errors.New("missing separator after the replacement")
	}
	flush()
	flags := sipmsg.Newline
	for _, f := range s[q+1:] {
		switch f {
		case 'i':
			flags |= sipmsg.ICase
		case 's':
			flags &^= sipmsg.Newline
		case 'g':
			se.all = true
		default:
			return nil, fmt.Errorf("unknown flag %q", f)
		}
	}
	re, err := sipmsg.CompileRegex(reText, flags)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %v", reText, err)
	}
	se.re = re
	return se, nil
}

// match is one replacement a subst expression produced: input[off:off+n]
// becomes text.
type match struct {
	off, n int
	text   string
}

// errEmptyMatch reports a match of zero length, which Kamailio refuses.
var errEmptyMatch = errors.New("matched string is empty, invalid regular expression?")

// run finds the matches in input (one, or all with the g flag) and builds
// their replacements. uri returns the current R-URI for \u.
func (se *substExpr) run(c *script.Ctx, input []byte, uri func() string) ([]match, error) {
	var locs [][]int
	if se.all {
		locs = se.re.FindAllSubmatchIndex(input, -1)
	} else if l := se.re.FindSubmatchIndex(input); l != nil {
		locs = [][]int{l}
	}
	if len(locs) == 0 {
		return nil, nil
	}
	out := make([]match, 0, len(locs))
	buf := c.GetBuf()
	defer func() { c.PutBuf(buf) }()
	for _, l := range locs {
		if l[0] == l[1] {
			return nil, errEmptyMatch
		}
		buf = buf[:0]
		for _, part := range se.rpl {
			switch part.kind {
			case rplText:
				buf = append(buf, part.text...)
			case rplGroup:
				if g := part.group; 2*g+1 < len(l) && l[2*g] >= 0 {
					buf = append(buf, input[l[2*g]:l[2*g+1]]...)
				}
			case rplURI:
				buf = append(buf, uri()...)
			case rplPV:
				buf = part.pv.Append(c, buf)
			}
			if len(buf) > maxReplacement {
				return nil, errors.New("replacement too long")
			}
		}
		out = append(out, match{off: l[0], n: l[1] - l[0], text: string(buf)})
	}
	return out, nil
}

// substString applies se to s and returns the result (ok=false when
// nothing matched).
func (se *substExpr) substString(c *script.Ctx, s string, uri func() string) (string, bool, error) {
	ms, err := se.run(c, []byte(s), uri)
	if err != nil || len(ms) == 0 {
		return "", false, err
	}
	b := make([]byte, 0, len(s)+32)
	last := 0
	for _, m := range ms {
		b = append(b, s[last:m.off]...)
		b = append(b, m.text...)
		last = m.off + m.n
	}
	b = append(b, s[last:]...)
	return string(b), true, nil
}
