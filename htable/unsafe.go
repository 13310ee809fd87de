package htable

import "unsafe"

// sbytes returns the bytes of s without copying. The result must never be
// written to nor retained: the package only reads it to hash, compare and
// copy keys into its own storage.
func sbytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
