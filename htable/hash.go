package htable

import "encoding/binary"

// Hash returns Kamailio's case-insensitive core hash of key (core_case_hash
// with no second string), the 32-bit value Kamailio's htable uses to pick a
// slot (Hash(key) & (slots-1)) and to order the items inside a slot.
//
// ASCII letters are folded to lower case before hashing; bytes >= 0x80 are
// taken as negative numbers, as C's signed char is on x86. Keys that differ
// only in case therefore share a slot, but they are still distinct keys:
// key comparison is case-sensitive.
func Hash(key []byte) uint32 {
	var h, v uint32
	i := 0
	for ; i+4 <= len(key); i += 4 {
		w := binary.BigEndian.Uint32(key[i:])
		if w&0x80808080 == 0 {
			// Four ASCII bytes: fold A-Z to a-z in one go. A byte gets
			// 0x80 in upper when it is >= 'A' and <= 'Z'.
			upper := (w + 0x3f3f3f3f) &^ (w + 0x25252525) & 0x80808080
			v = w | upper>>2
		} else {
			v = fold(key[i])<<24 + fold(key[i+1])<<16 + fold(key[i+2])<<8 + fold(key[i+3])
		}
		h += v ^ (v >> 3)
	}
	v = 0
	for ; i < len(key); i++ {
		v = v<<8 + fold(key[i])
	}
	h += v ^ (v >> 3)
	return (h + (h >> 11)) + ((h >> 13) + (h >> 23))
}

// HashString is Hash for a string key.
func HashString(key string) uint32 { return Hash(sbytes(key)) }

// fold lower-cases an ASCII letter and sign-extends the byte the way a C
// "char" (signed on x86) is promoted to int.
func fold(b byte) uint32 {
	if b >= 'A' && b <= 'Z' {
		b |= 0x20
	}
	return uint32(int32(int8(b)))
}
