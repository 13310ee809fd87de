package htable

import (
	"fmt"
	"strconv"
	"strings"
)

// Def is a table definition: the attributes Kamailio's
// modparam("htable", "htable", "name=>attr=value;...") accepts, plus
// sipht's maxitems.
//
// The zero Def is not Kamailio's default (UpdateExpire would be 0): build
// one with ParseDef or NewDef.
type Def struct {
	// Name is the table name (case-sensitive).
	Name string
	// Size is the size attribute as written (default 4). The table has
	// SlotCount(Size) slots.
	Size uint32
	// AutoExpire is the lifetime of items in seconds; 0 (the default)
	// means items never expire and expiry operations are ignored.
	AutoExpire uint32
	// UpdateExpire is the raw updateexpire attribute (default 1): when
	// non-zero every value update restarts the item's lifetime.
	UpdateExpire uint32
	// HasInitVal tells whether the initval attribute was given.
	HasInitVal bool
	// InitVal is the value read for missing keys when HasInitVal is set;
	// it also makes Add create missing keys.
	InitVal int64
	// DBTable is the database table the content is loaded from (dbtable).
	DBTable string
	// DBMode is the raw dbmode attribute: non-zero saves the table to
	// DBTable on shutdown.
	DBMode uint32
	// Cols are the database columns of the cols attribute (first is the
	// key column); nil when not given.
	Cols []string
	// ColDelim separates packed column values (coldelim, default ',').
	ColDelim byte
	// ColNull is written for NULL column values (colnull, default "*";
	// "" writes nothing).
	ColNull string
	// DMQReplicate is the raw dmqreplicate attribute: non-zero replicates
	// changes to DMQ peers.
	DMQReplicate uint32
	// MaxItems bounds the number of items (sipht extension, 0 = no
	// bound). See Table for the eviction policy.
	MaxItems uint32
}

// NewDef returns a definition named name with Kamailio's defaults.
func NewDef(name string) Def {
	return Def{Name: name, Size: 4, UpdateExpire: 1, ColDelim: ',', ColNull: "*"}
}

// SlotCount returns the number of slots Kamailio allocates for the size
// attribute: 8 when size <= 1, 16384 when size > 31, otherwise 2^size.
// (Kamailio's README says the minimum is 3 and the maximum 14; its code
// does this.)
func SlotCount(size uint32) int {
	switch {
	case size <= 1:
		return 8
	case size > 31:
		return 1 << 14
	default:
		return 1 << size
	}
}

// Slots returns the number of slots of a table built from d.
func (d Def) Slots() int { return SlotCount(d.Size) }

// maxCols is Kamailio's limit on the number of cols.
const maxCols = 8

// DefError is the error ParseDef returns. Attr names the attribute at
// fault when there is one.
type DefError struct {
	Spec string
	Attr string
	Msg  string
}

func (e *DefError) Error() string {
	if e.Attr != "" {
		return fmt.Sprintf("htable definition %q: attribute %q: %s", e.Spec, e.Attr, e.Msg)
	}
	return fmt.Sprintf("htable definition %q: %s", e.Spec, e.Msg)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// ParseDef parses a table definition in Kamailio's syntax,
//
//	name=>size=12;initval=0;autoexpire=360
//
// Attributes: size, autoexpire, updateexpire, initval, dbtable, dbmode,
// cols (quoted, comma separated: cols='key,c1,c2'), coldelim, colnull,
// dmqreplicate, and sipht's maxitems. Values may be quoted with ' or ".
// Whitespace around the name, the attribute names and the values is
// allowed, and so is one trailing ';'.
//
// ParseDef is stricter than Kamailio where Kamailio silently ignores input
// (text after a ',', a repeated attribute, an empty number, an empty table
// name): those are errors here.
func ParseDef(spec string) (Def, error) {
	d := NewDef("")
	fail := func(attr, format string, args ...any) (Def, error) {
		return Def{}, &DefError{Spec: spec, Attr: attr, Msg: fmt.Sprintf(format, args...)}
	}
	s := spec
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
		i++
	}
	d.Name = s[start:i]
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i+1 >= len(s) || s[i] != '=' || s[i+1] != '>' {
		return fail("", "missing \"=>\" after the table name")
	}
	if d.Name == "" {
		return fail("", "empty table name")
	}
	i += 2
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	rest := s[i:]
	if strings.HasSuffix(rest, ";") {
		rest = rest[:len(rest)-1]
	}
	seen := make(map[string]bool)
	p := 0
	for p < len(rest) {
		// attribute name
		ns := p
		for p < len(rest) && !isSpace(rest[p]) && rest[p] != ',' && rest[p] != '=' && rest[p] != ';' {
			p++
		}
		name := rest[ns:p]
		for p < len(rest) && isSpace(rest[p]) {
			p++
		}
		hasValue := false
		val := ""
		if p < len(rest) && rest[p] == '=' {
			hasValue = true
			p++
			for p < len(rest) && isSpace(rest[p]) {
				p++
			}
			if p < len(rest) && (rest[p] == '"' || rest[p] == '\'') {
				q := rest[p]
				end := strings.IndexByte(rest[p+1:], q)
				if end < 0 {
					return fail(name, "unterminated quoted value")
				}
				val = rest[p+1 : p+1+end]
				p += end + 2
			} else {
				vs := p
				for p < len(rest) && !isSpace(rest[p]) && rest[p] != ',' && rest[p] != ';' {
					p++
				}
				val = rest[vs:p]
			}
			for p < len(rest) && isSpace(rest[p]) {
				p++
			}
		}
		if p < len(rest) {
			if rest[p] != ';' {
				return fail(name, "unexpected %q (attributes are separated by ';')", rest[p])
			}
			p++
			for p < len(rest) && isSpace(rest[p]) {
				p++
			}
			if p >= len(rest) {
				return fail("", "attribute name missing after ';'")
			}
		}
		if name == "" {
			return fail("", "empty attribute name")
		}
		if seen[name] {
			return fail(name, "given more than once")
		}
		seen[name] = true
		if err := d.setAttr(name, val, hasValue); err != "" {
			return fail(name, "%s", err)
		}
	}
	return d, nil
}

// setAttr applies one attribute; it returns an error message or "".
func (d *Def) setAttr(name, val string, hasValue bool) string {
	uint32Attr := func(dst *uint32) string {
		if !hasValue || val == "" {
			return "missing number"
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || val[0] == '+' {
			return fmt.Sprintf("bad number %q (want an unsigned 32-bit decimal)", val)
		}
		*dst = uint32(n)
		return ""
	}
	switch name {
	case "size":
		return uint32Attr(&d.Size)
	case "autoexpire":
		return uint32Attr(&d.AutoExpire)
	case "updateexpire":
		return uint32Attr(&d.UpdateExpire)
	case "dbmode":
		return uint32Attr(&d.DBMode)
	case "dmqreplicate":
		return uint32Attr(&d.DMQReplicate)
	case "maxitems":
		return uint32Attr(&d.MaxItems)
	case "initval":
		if !hasValue || val == "" {
			return "missing number"
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Sprintf("bad number %q (want a signed decimal)", val)
		}
		d.InitVal, d.HasInitVal = n, true
		return ""
	case "dbtable":
		d.DBTable = val
		return ""
	case "cols":
		if val == "" {
			return "empty column list"
		}
		cols := strings.Split(val, ",")
		if len(cols) < 2 {
			return "at least two columns are needed (key column, value column)"
		}
		if len(cols) > maxCols {
			return fmt.Sprintf("too many columns (%d, at most %d)", len(cols), maxCols)
		}
		for _, c := range cols {
			if c == "" {
				return "empty column name"
			}
		}
		d.Cols = cols
		return ""
	case "coldelim":
		if len(val) != 1 {
			return fmt.Sprintf("want exactly one character, got %q", val)
		}
		d.ColDelim = val[0]
		return ""
	case "colnull":
		if len(val) > 1 {
			return fmt.Sprintf("want at most one character, got %q", val)
		}
		d.ColNull = val
		return ""
	}
	return "unknown attribute"
}

// String returns d in the syntax ParseDef reads. Attributes equal to their
// default are left out.
func (d Def) String() string {
	var b strings.Builder
	b.WriteString(d.Name)
	b.WriteString("=>")
	sep := func() {
		if !strings.HasSuffix(b.String(), "=>") {
			b.WriteByte(';')
		}
	}
	num := func(name string, v uint32, def uint32) {
		if v != def {
			sep()
			fmt.Fprintf(&b, "%s=%d", name, v)
		}
	}
	quote := func(v string) string {
		if v == "" || strings.ContainsAny(v, " \t\r\n,;=\"'") {
			if strings.Contains(v, "'") {
				return `"` + v + `"`
			}
			return "'" + v + "'"
		}
		return v
	}
	num("size", d.Size, 4)
	num("autoexpire", d.AutoExpire, 0)
	num("updateexpire", d.UpdateExpire, 1)
	if d.HasInitVal {
		sep()
		fmt.Fprintf(&b, "initval=%d", d.InitVal)
	}
	if d.DBTable != "" {
		sep()
		b.WriteString("dbtable=" + quote(d.DBTable))
	}
	num("dbmode", d.DBMode, 0)
	if d.Cols != nil {
		sep()
		b.WriteString("cols=" + quote(strings.Join(d.Cols, ",")))
	}
	if d.ColDelim != ',' {
		sep()
		b.WriteString("coldelim=" + quote(string([]byte{d.ColDelim})))
	}
	if d.ColNull != "*" {
		sep()
		b.WriteString("colnull=" + quote(d.ColNull))
	}
	num("dmqreplicate", d.DMQReplicate, 0)
	num("maxitems", d.MaxItems, 0)
	return b.String()
}

// validate checks a Def built by hand (ParseDef output always passes).
func (d Def) validate() error {
	if d.Name == "" {
		return fmt.Errorf("htable: empty table name")
	}
	if d.Cols != nil && (len(d.Cols) < 2 || len(d.Cols) > maxCols) {
		return fmt.Errorf("htable %q: cols needs 2..%d columns, got %d", d.Name, maxCols, len(d.Cols))
	}
	if len(d.ColNull) > 1 {
		return fmt.Errorf("htable %q: colnull must be at most one character", d.Name)
	}
	return nil
}
