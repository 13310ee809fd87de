package script

import (
	"strings"

	"github.com/sipht/sipht/internal/cfg"
)

// Format is a compiled format string: literal text with pseudo-variables
// ("MessageCount is $sht(MessageCount=>$si)"), as xlog and most module
// functions take. Formats are built at compile time (FixupCtx/Arg.Format,
// PVFixupCtx.InnerFormat, Compiler.ParseFormat) and are safe for
// concurrent use.
type Format struct {
	text  string
	parts []fpart
	konst bool
	// single is set when the format is exactly one PV (no text): its
	// value can be used without printing.
	single *pvRef
	// dyn is set for a format built from a non-constant expression
	// argument (evaluated in value context).
	dyn *cexpr
}

type fpart struct {
	lit string
	pv  *pvRef
}

// ConstFormat returns a Format that always prints s.
func ConstFormat(s string) *Format {
	return &Format{text: s, konst: true, parts: []fpart{{lit: s}}}
}

// Text returns the format as written.
func (f *Format) Text() string { return f.text }

// IsConst reports whether the format contains no pseudo-variables.
func (f *Format) IsConst() bool { return f.konst }

// Const returns the text of a constant format.
func (f *Format) Const() string { return f.text }

// Append prints the format into b: each PV as xlog does (null prints
// "<null>", a failed transformation prints nothing).
func (f *Format) Append(c *Ctx, b []byte) []byte {
	if f.dyn != nil {
		return f.dyn.valf(c).Append(b)
	}
	for i := range f.parts {
		p := &f.parts[i]
		b = append(b, p.lit...)
		if p.pv != nil {
			if v, ok := p.pv.get(c); ok {
				b = v.Append(b)
			}
		}
	}
	return b
}

// String returns the printed format. It does not allocate for constant
// formats and for formats made of one PV whose value is a string.
func (f *Format) String(c *Ctx) string {
	if f.konst {
		return f.text
	}
	if f.single != nil {
		v, ok := f.single.get(c)
		if !ok {
			return ""
		}
		if v.k == KindStr {
			return v.s
		}
		return v.String()
	}
	b := c.GetBuf()
	b = f.Append(c, b)
	s := string(b)
	c.PutBuf(b)
	return s
}

// Value returns the format's value: the PV's own value (int, string or
// null) when the format is a single PV, otherwise the printed string.
func (f *Format) Value(c *Ctx) Value {
	if f.konst {
		return Str(f.text)
	}
	if f.single != nil {
		v, _ := f.single.get(c)
		return v
	}
	if f.dyn != nil {
		return f.dyn.valf(c)
	}
	return Str(f.String(c))
}

// SinglePV returns the PV when the format is exactly one pseudo-variable
// without transformations (e.g. to write to it), else nil.
func (f *Format) SinglePV() *PV {
	if f.single != nil && len(f.single.trans) == 0 {
		return f.single.pv
	}
	return nil
}

// parseFormat compiles s (found at pos) into a Format.
func (cm *compiler) parseFormat(s string, pos cfg.Pos) (*Format, error) {
	f := &Format{text: s}
	if strings.IndexByte(s, '$') < 0 {
		f.konst = true
		f.parts = []fpart{{lit: s}}
		return f, nil
	}
	i := 0
	for i < len(s) {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			f.parts = append(f.parts, fpart{lit: s[i:]})
			break
		}
		lit := s[i : i+j]
		spec, n, err := cfg.ParsePV(s[i+j:])
		if err != nil {
			return nil, &cfg.Error{Pos: pos, Msg: "in " + quoteText(s) + ": " + err.Error()}
		}
		spec.Pos = pos
		if spec.Name == "$" { // $$ prints a '$'
			f.parts = append(f.parts, fpart{lit: lit + "$"})
			i += j + n
			continue
		}
		ref, err := cm.resolvePV(spec, pos)
		if err != nil {
			return nil, err
		}
		f.parts = append(f.parts, fpart{lit: lit, pv: ref})
		i += j + n
	}
	// merge literal-only parts
	merged := f.parts[:0]
	for _, p := range f.parts {
		if n := len(merged); n > 0 && merged[n-1].pv == nil {
			merged[n-1].lit += p.lit
			merged[n-1].pv = p.pv
			continue
		}
		merged = append(merged, p)
	}
	f.parts = merged
	konst := true
	for _, p := range f.parts {
		if p.pv != nil {
			konst = false
		}
	}
	f.konst = konst
	if len(f.parts) == 1 && f.parts[0].lit == "" && f.parts[0].pv != nil {
		f.single = f.parts[0].pv
	}
	return f, nil
}

func quoteText(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return "\"" + s + "\""
}
