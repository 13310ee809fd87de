package script

import "strings"

// StrFunc returns the Fixup of a function of one format-string argument
// (pseudo-variables allowed) whose code depends only on the argument's
// value: the handler returns fn(value).
func StrFunc(fn func(s string) int) func(fc *FixupCtx) (Handler, error) {
	return func(fc *FixupCtx) (Handler, error) {
		f, err := fc.Arg(0).Format()
		if err != nil {
			return nil, err
		}
		return func(c *Ctx) int { return fn(f.String(c)) }, nil
	}
}

// StrFunc2 is StrFunc for a function of two format-string arguments: the
// handler returns fn(first, second).
func StrFunc2(fn func(a, b string) int) func(fc *FixupCtx) (Handler, error) {
	return func(fc *FixupCtx) (Handler, error) {
		a, err := fc.Arg(0).Format()
		if err != nil {
			return nil, err
		}
		b, err := fc.Arg(1).Format()
		if err != nil {
			return nil, err
		}
		return func(c *Ctx) int { return fn(a.String(c), b.String(c)) }, nil
	}
}

// CompareStr compares a and b as Kamailio's cmp_str and cmpi_str do
// (fold: case-insensitively): 0 equal, < 0 when a sorts first (an empty
// string sorts before any other), > 0 otherwise.
func CompareStr(a, b string, fold bool) int {
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	if fold {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	}
	return strings.Compare(a, b)
}

// CmpCode maps a three-way comparison to the codes Kamailio's comparison
// functions (cmp_str, starts_with, cmp_hdr_name ...) return: 1 equal, -1
// greater, -2 less.
func CmpCode(r int) int {
	switch {
	case r == 0:
		return 1
	case r > 0:
		return -1
	}
	return -2
}
