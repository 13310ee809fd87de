package cfg

import (
	"errors"
	"fmt"
	"strings"
)

// Pos is a position in a configuration file. Line and Col are 1-based; Col
// counts bytes. The zero Pos means "unknown".
type Pos struct {
	File string
	Line int
	Col  int
}

// String returns "file:line:col" (or "line:col" when the file is unknown).
func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsValid reports whether the position is known.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Error is one problem found in a configuration, with where it is.
type Error struct {
	Pos Pos
	Msg string
	// Err is an optional underlying cause (for errors.Is/As).
	Err error
}

// Error returns "file:line:col: message".
func (e *Error) Error() string {
	if !e.Pos.IsValid() {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList is a list of errors found in one pass over a configuration. It
// implements error; errors.As reaches each element through Unwrap.
type ErrorList []error

// Error joins the messages, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the elements, so errors.Is and errors.As look into each.
func (l ErrorList) Unwrap() []error { return l }

// Err returns nil for an empty list and the list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Errors returns the individual errors of err: the elements of an ErrorList
// (or of any error with Unwrap() []error), or err itself.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	var m interface{ Unwrap() []error }
	if errors.As(err, &m) {
		return m.Unwrap()
	}
	return []error{err}
}
