package cfg

import (
	"fmt"
	"strings"
)

// PVSpec is the syntax of one pseudo-variable reference, split as
// Kamailio's pv_parse_spec does. Nothing is resolved: the class name,
// inner name, index and transformations are kept as written.
//
// Forms: $name, $name(inner), $(name), $(name(inner)), $(name[index]),
// $(name(inner)[index]{tr1}{tr2}), and the marker $$ (Name "$").
// The plain form $name(inner) takes neither an index nor transformations
// (as in Kamailio, "$var(x){s.len}" is the value of $var(x) followed by the
// text "{s.len}").
type PVSpec struct {
	Pos      Pos
	Text     string // the whole reference as written
	Name     string // class name: "var", "sht", "si"; "$" for $$
	Paren    bool   // written as $(...)
	HasInner bool
	Inner    string // inner name as written, e.g. "MessageCount=>$si"
	HasIndex bool
	Index    string // index as written: "1", "-1", "*", "$var(i)"
	Trans    []TransSpec
}

// TransSpec is one transformation {class.name,params} as written.
type TransSpec struct {
	Text      string // "{s.substr,1,2}"
	Class     string // "s"
	Name      string // "substr" (trimmed)
	Params    string // raw text after the first ',' ("1,2"); "" if none
	HasParams bool
}

func isPVNameChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '?'
}

// ParsePV parses the pseudo-variable at the start of s (s[0] must be '$')
// and returns it with the number of bytes it spans. Text after the
// reference is not examined, so ParsePV also finds PVs inside format
// strings.
func ParsePV(s string) (PVSpec, int, error) {
	var sp PVSpec
	if len(s) < 2 || s[0] != '$' {
		return sp, 0, fmt.Errorf("expected '$' followed by a pseudo-variable name")
	}
	p := 1
	if s[p] == '(' {
		sp.Paren = true
		p++
	}
	if p < len(s) && s[p] == '$' {
		p++
		if sp.Paren {
			if p >= len(s) || s[p] != ')' {
				return sp, 0, fmt.Errorf("invalid pseudo-variable %q: expected ')' after $($", clip(s))
			}
			p++
		}
		sp.Name = "$"
		sp.Text = s[:p]
		return sp, p, nil
	}
	ns := p
	for p < len(s) && isPVNameChar(s[p]) {
		p++
	}
	sp.Name = s[ns:p]
	if sp.Name == "" {
		return sp, 0, fmt.Errorf("invalid pseudo-variable %q: expected a name after '$'", clip(s))
	}
	if !sp.Paren {
		if p < len(s) && s[p] == '(' {
			end, err := scanNested(s, p+1, '(', ')')
			if err != nil {
				return sp, 0, fmt.Errorf("pseudo-variable %q: %v", clip(s), err)
			}
			sp.HasInner, sp.Inner = true, s[p+1:end]
			if sp.Inner == "" {
				return sp, 0, fmt.Errorf("pseudo-variable $%s(): empty inner name", sp.Name)
			}
			p = end + 1
		}
		sp.Text = s[:p]
		return sp, p, nil
	}
	// $( form
	if p >= len(s) {
		return sp, 0, fmt.Errorf("pseudo-variable %q: expected ')'", clip(s))
	}
	if s[p] == '(' {
		end, err := scanNested(s, p+1, '(', ')')
		if err != nil {
			return sp, 0, fmt.Errorf("pseudo-variable %q: %v", clip(s), err)
		}
		sp.HasInner, sp.Inner = true, s[p+1:end]
		if sp.Inner == "" {
			return sp, 0, fmt.Errorf("pseudo-variable $(%s()): empty inner name", sp.Name)
		}
		p = end + 1
	}
	if p < len(s) && s[p] == '[' {
		end, err := scanNested(s, p+1, '[', ']')
		if err != nil {
			return sp, 0, fmt.Errorf("pseudo-variable %q: %v", clip(s), err)
		}
		sp.HasIndex, sp.Index = true, s[p+1:end]
		if sp.Index == "" {
			return sp, 0, fmt.Errorf("pseudo-variable %q: empty index", clip(s))
		}
		p = end + 1
	}
	if p < len(s) && s[p] == '{' {
		trs, n, err := ParseTransforms(s[p:])
		if err != nil {
			return sp, 0, fmt.Errorf("pseudo-variable %q: %v", clip(s), err)
		}
		sp.Trans = trs
		p += n
	}
	if p >= len(s) || s[p] != ')' {
		if p < len(s) {
			return sp, 0, fmt.Errorf("pseudo-variable %q: unexpected %q, expected ')', '(', '[' or '{'", clip(s), s[p])
		}
		return sp, 0, fmt.Errorf("pseudo-variable %q: expected ')'", clip(s))
	}
	p++
	sp.Text = s[:p]
	return sp, p, nil
}

// scanNested returns the index of the close byte that ends a group opened
// just before s[i], counting nested open/close pairs.
func scanNested(s string, i int, open, close byte) (int, error) {
	n := 0
	for k := i; k < len(s); k++ {
		switch s[k] {
		case open:
			n++
		case close:
			if n == 0 {
				return k, nil
			}
			n--
		}
	}
	return 0, fmt.Errorf("expected %q", close)
}

// ParseTransforms splits a chain of transformations "{a.b,p}{c.d}" at the
// start of s (white space may separate them) and returns them with the
// number of bytes consumed.
func ParseTransforms(s string) ([]TransSpec, int, error) {
	var out []TransSpec
	p := 0
	for {
		q := p
		for q < len(s) && (s[q] == ' ' || s[q] == '\t' || s[q] == '\n') {
			q++
		}
		if q >= len(s) || s[q] != '{' {
			break
		}
		end, err := scanNested(s, q+1, '{', '}')
		if err != nil {
			return nil, 0, fmt.Errorf("transformation %q: %v", clip(s[q:]), err)
		}
		body := s[q+1 : end]
		tr := TransSpec{Text: s[q : end+1]}
		dot := strings.IndexByte(body, '.')
		if dot <= 0 {
			return nil, 0, fmt.Errorf("invalid transformation %s: expected {class.name[,params]}", tr.Text)
		}
		tr.Class = strings.TrimLeft(body[:dot], " \t\n")
		rest := body[dot+1:]
		if i := strings.IndexByte(rest, ','); i >= 0 {
			tr.Name = strings.TrimSpace(rest[:i])
			tr.Params = rest[i+1:]
			tr.HasParams = true
		} else {
			tr.Name = strings.TrimSpace(rest)
		}
		if tr.Name == "" {
			return nil, 0, fmt.Errorf("invalid transformation %s: expected a name after %q", tr.Text, tr.Class+".")
		}
		out = append(out, tr)
		p = end + 1
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("expected a transformation {class.name}")
	}
	return out, p, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
