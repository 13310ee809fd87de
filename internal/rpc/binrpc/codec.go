// Package binrpc implements Kamailio's BINRPC protocol (the ctl module,
// spoken by kamcmd): the packet and record codec, a server for the ctl
// listen specs (unix stream and datagram sockets, TCP, UDP) serving an
// rpc.Registry, and a client.
//
// Wire format (all big-endian):
//
//	packet : 0xA1 | type<<4 | (lenBytes-1)<<2 | (cookieBytes-1) | len | cookie | body
//	record : S sss tttt [length] [value]
//
// Integers and lengths use the minimal number of bytes, strings carry and
// count a trailing NUL, doubles travel as int64 fixed point (value x 1000),
// and the RPC API's arrays are sent as structs with unnamed members, which
// is what kamcmd expects.
package binrpc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
)

// Packet types.
const (
	TypeRequest = 0
	TypeReply   = 1
	TypeFault   = 3
)

// Record types.
const (
	RecInt    = 0
	RecStr    = 1
	RecDouble = 2
	RecStruct = 3
	RecArray  = 4
	RecAVP    = 5
	RecBytes  = 6
)

// Protocol constants.
const (
	magicVersion  = 0xA1
	MinHeaderSize = 4
	MaxHeaderSize = 10
	// DefaultPort is the ctl TCP/UDP port used when a spec has none.
	DefaultPort = 2049
)

// Error is a BINRPC error, with Kamailio's binrpc_error() texts (they end
// up in fault messages, e.g. "bad request: corrupted packet").
type Error int

// BINRPC errors (E_BINRPC_*).
const (
	ErrInval    Error = 1
	ErrOverflow Error = 2
	ErrBadPkt   Error = 3
	ErrMoreData Error = 4
	ErrEOP      Error = 5
	ErrNotInit  Error = 6
	ErrType     Error = 7
	ErrRecord   Error = 8
	ErrBug      Error = 9
)

var errorTexts = [...]string{
	"no error",
	"invalid function arguments",
	"buffer too small (overflow)",
	"corrupted packet",
	"more data needed",
	"end of packet encountered",
	"binrpc parse context not initialized",
	"record doesn't match type",
	"bad record",
	"bug -- internal error",
	"unknown/invalid error code",
}

func (e Error) Error() string {
	if e < 0 || int(e) >= len(errorTexts) {
		return errorTexts[len(errorTexts)-1]
	}
	return errorTexts[e]
}

// Header is a packet header.
type Header struct {
	Type   int
	Len    uint32 // body length
	Cookie uint32
}

// minBytes returns how many bytes the minimal big-endian encoding of u
// takes (0 for 0).
func minBytes(u uint32) int {
	n := 4
	for n > 0 && u&0xff000000 == 0 {
		u <<= 8
		n--
	}
	return n
}

func appendUint(dst []byte, u uint32, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(u>>(8*uint(i))))
	}
	return dst
}

// AppendHeader appends a packet header with minimal length and cookie
// fields (each at least one byte).
func AppendHeader(dst []byte, typ int, bodyLen, cookie uint32) []byte {
	ll := max(minBytes(bodyLen), 1)
	cl := max(minBytes(cookie), 1)
	dst = append(dst, magicVersion, byte(typ<<4|(ll-1)<<2|(cl-1)))
	dst = appendUint(dst, bodyLen, ll)
	return appendUint(dst, cookie, cl)
}

// HeaderLen returns the full header length announced by the first two
// header bytes.
func HeaderLen(b1 byte) int { return 2 + int(b1>>2&3) + 1 + int(b1&3) + 1 }

// ParseHeader parses a header at the start of b and returns it with its
// length. ErrMoreData means b is too short; ErrBadPkt a bad magic/version
// or an unknown packet type (the returned header then has Cookie 0, as
// Kamailio's parser leaves it).
func ParseHeader(b []byte) (Header, int, error) {
	var h Header
	if len(b) < MinHeaderSize {
		return h, 0, ErrMoreData
	}
	if b[0] != magicVersion {
		return h, 0, ErrBadPkt
	}
	h.Type = int(b[1] >> 4)
	switch h.Type {
	case TypeRequest, TypeReply, TypeFault:
	default:
		return h, 0, ErrBadPkt
	}
	n := HeaderLen(b[1])
	if len(b) < n {
		return h, 0, ErrMoreData
	}
	ll := int(b[1]>>2&3) + 1
	p := 2
	for i := 0; i < ll; i++ {
		h.Len = h.Len<<8 | uint32(b[p])
		p++
	}
	for p < n {
		h.Cookie = h.Cookie<<8 | uint32(b[p])
		p++
	}
	return h, n, nil
}

// ReadHeader reads a header from r.
func ReadHeader(r io.Reader) (Header, error) {
	var b [MaxHeaderSize]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return Header{}, err
	}
	if b[0] != magicVersion {
		return Header{}, ErrBadPkt
	}
	n := HeaderLen(b[1])
	if _, err := io.ReadFull(r, b[2:n]); err != nil {
		return Header{}, noEOF(err)
	}
	h, _, err := ParseHeader(b[:n])
	return h, err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendInt appends an INT record with the minimal value bytes (0 takes
// none, negatives take 4).
func AppendInt(dst []byte, v int32) []byte {
	u := uint32(v)
	n := minBytes(u)
	dst = append(dst, byte(n<<4|RecInt))
	return appendUint(dst, u, n)
}

// DoubleBits returns the fixed-point integer BINRPC sends for f: f*1000
// truncated toward zero (C's (long long) cast, including its x86 result
// for NaN and out-of-range values).
func DoubleBits(f float64) int64 {
	f *= 1000
	if math.IsNaN(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return math.MinInt64
	}
	return int64(f)
}

// AppendDouble appends a DOUBLE record (f x 1000 as a minimal int64).
func AppendDouble(dst []byte, f float64) []byte { return appendLLong(dst, DoubleBits(f), RecDouble) }

func appendLLong(dst []byte, v int64, typ byte) []byte {
	u := uint64(v)
	n := 8
	for n > 0 && u&0xff00000000000000 == 0 {
		u <<= 8
		n--
	}
	dst = append(dst, byte(n<<4)|typ)
	for i := 0; i < n; i++ {
		dst = append(dst, byte(u>>56))
		u <<= 8
	}
	return dst
}

// appendStrMark appends the type/size byte(s) of a string-like record of
// l value bytes.
func appendStrMark(dst []byte, typ byte, l int) []byte {
	if l < 8 {
		return append(dst, byte(l<<4)|typ)
	}
	n := minBytes(uint32(l))
	dst = append(dst, byte((n|8)<<4)|typ)
	return appendUint(dst, uint32(l), n)
}

// AppendStr appends a STR record (with its NUL).
func AppendStr(dst []byte, s string) []byte {
	dst = appendStrMark(dst, RecStr, len(s)+1)
	dst = append(dst, s...)
	return append(dst, 0)
}

// AppendBytes appends a BYTES record.
func AppendBytes(dst []byte, s string) []byte {
	dst = appendStrMark(dst, RecBytes, len(s))
	return append(dst, s...)
}

// AppendAVP appends a struct member name (it must be followed by its
// value record).
func AppendAVP(dst []byte, name string) []byte {
	dst = appendStrMark(dst, RecAVP, len(name)+1)
	dst = append(dst, name...)
	return append(dst, 0)
}

// Struct and array tags.
const (
	TagStructStart = RecStruct
	TagStructEnd   = 0x80 | RecStruct
	TagArrayStart  = RecArray
	TagArrayEnd    = 0x80 | RecArray
)

// Record is one decoded record. Name and Str point into the decoder's
// buffer and are valid until the next call to Next.
type Record struct {
	Type   int
	Named  bool   // an AVP: Name is the member name
	Name   []byte // without NUL
	Int    int32
	Double float64
	Str    []byte // STR (without NUL) or BYTES
	End    bool   // struct/array end tag
}

// Decoder reads the records of one packet body, with the rules and the
// struct/array depth accounting of Kamailio's binrpc_read_record (which
// kamcmd uses to indent its output).
type Decoder struct {
	buf    []byte        // whole body (buffer mode)
	off    int           // position in buf
	r      *bufio.Reader // stream mode
	remain int64         // body bytes not read yet

	// SMode allows plain values and unnamed structs inside structs
	// (replies); requests are parsed without it.
	SMode bool
	// InStruct and InArray are the current struct and array depths.
	InStruct, InArray int
	// MaxValue bounds the size of one string/bytes/name value in stream
	// mode (default 64 MiB); larger values are an error.
	MaxValue int

	scratch []byte
	nameBuf []byte
}

// NewDecoder returns a decoder for a complete body.
func NewDecoder(body []byte, smode bool) *Decoder {
	return &Decoder{buf: body, remain: int64(len(body)), SMode: smode}
}

// NewStreamDecoder returns a decoder reading a body of bodyLen bytes from r.
func NewStreamDecoder(r *bufio.Reader, bodyLen int64, smode bool) *Decoder {
	return &Decoder{r: r, remain: bodyLen, SMode: smode}
}

// Remaining returns the number of body bytes not consumed yet.
func (d *Decoder) Remaining() int64 { return d.remain }

// Discard skips the rest of the body (stream mode), so that the next
// packet on the connection can be read.
func (d *Decoder) Discard() error {
	if d.r == nil {
		d.off += int(d.remain)
		d.remain = 0
		return nil
	}
	for d.remain > 0 {
		n, err := d.r.Discard(int(min(d.remain, 1<<20)))
		d.remain -= int64(n)
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

func (d *Decoder) readByte() (byte, error) {
	if d.remain <= 0 {
		return 0, ErrMoreData
	}
	var b byte
	if d.r == nil {
		b = d.buf[d.off]
		d.off++
	} else {
		var err error
		if b, err = d.r.ReadByte(); err != nil {
			return 0, noEOF(err)
		}
	}
	d.remain--
	return b, nil
}

func (d *Decoder) peekByte() (byte, error) {
	if d.remain <= 0 {
		return 0, ErrMoreData
	}
	if d.r == nil {
		return d.buf[d.off], nil
	}
	b, err := d.r.Peek(1)
	if err != nil {
		return 0, noEOF(err)
	}
	return b[0], nil
}

// readN returns the next n value bytes.
func (d *Decoder) readN(n int) ([]byte, error) {
	if int64(n) > d.remain || n < 0 {
		return nil, ErrMoreData
	}
	if d.r == nil {
		b := d.buf[d.off : d.off+n]
		d.off += n
		d.remain -= int64(n)
		return b, nil
	}
	maxv := d.MaxValue
	if maxv <= 0 {
		maxv = 64 << 20
	}
	if n > maxv {
		return nil, fmt.Errorf("binrpc: record of %d bytes exceeds the %d bytes limit", n, maxv)
	}
	if cap(d.scratch) < n {
		d.scratch = make([]byte, n, max(n, 256))
	}
	b := d.scratch[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, noEOF(err)
	}
	d.remain -= int64(n)
	return b, nil
}

func (d *Decoder) readUint(n int) (uint64, error) {
	var u uint64
	for i := 0; i < n; i++ {
		b, err := d.readByte()
		if err != nil {
			return 0, err
		}
		u = u<<8 | uint64(b)
	}
	return u, nil
}

// Next returns the next record; io.EOF at the end of the body.
func (d *Decoder) Next() (Record, error) {
	if d.remain <= 0 {
		return Record{}, io.EOF
	}
	var rec Record
	err := d.record(&rec)
	return rec, err
}

func (d *Decoder) record(rec *Record) error {
	b, err := d.readByte()
	if err != nil {
		return err
	}
	typ := int(b & 0xf)
	size := int(b >> 4)
	endTag := false
	if typ != RecDouble && size&8 != 0 {
		endTag = true
		u, err := d.readUint(size & 7)
		if err != nil {
			return err
		}
		if u > math.MaxInt32 {
			return ErrMoreData
		}
		size = int(u)
	}
	if int64(size) > d.remain {
		return ErrMoreData
	}
	rec.Type = typ
	switch typ {
	case RecStruct:
		// The size of a struct tag is not skipped, as in Kamailio.
		if d.InStruct > 0 {
			if endTag {
				d.InStruct--
				rec.End = true
			} else {
				if !d.SMode {
					return ErrRecord
				}
				d.InStruct++
			}
		} else {
			if endTag {
				return ErrRecord
			}
			d.InStruct++
		}
	case RecAVP:
		if d.InStruct == 0 {
			return ErrType
		}
		name, err := d.readN(size)
		if err != nil {
			return err
		}
		if len(name) > 0 {
			name = name[:len(name)-1]
		}
		if d.r != nil {
			// the value may reuse the scratch buffer: keep the name apart
			d.nameBuf = append(d.nameBuf[:0], name...)
			name = d.nameBuf
		}
		vb, err := d.peekByte()
		if err != nil {
			return err
		}
		if vt := int(vb & 0xf); vt == RecAVP || vt == RecArray {
			return ErrRecord
		}
		saved := d.InStruct
		d.InStruct = 0
		err = d.record(rec)
		d.InStruct += saved
		if err != nil {
			return err
		}
		rec.Named = true
		rec.Name = name
	case RecInt:
		if d.InStruct > 0 && !d.SMode {
			return ErrRecord
		}
		u, err := d.readUint(size)
		if err != nil {
			return err
		}
		rec.Int = int32(uint32(u))
	case RecStr:
		if d.InStruct > 0 && !d.SMode {
			return ErrRecord
		}
		s, err := d.readN(size)
		if err != nil {
			return err
		}
		if len(s) > 0 {
			s = s[:len(s)-1]
		}
		rec.Str = s
	case RecBytes:
		if d.InStruct > 0 && !d.SMode {
			return ErrRecord
		}
		s, err := d.readN(size)
		if err != nil {
			return err
		}
		rec.Str = s
	case RecArray:
		if d.InStruct > 0 && !d.SMode {
			return ErrRecord
		}
		if endTag {
			if d.InArray == 0 {
				return ErrRecord
			}
			d.InArray--
			rec.End = true
		} else {
			d.InArray++
		}
	case RecDouble:
		if d.InStruct > 0 && !d.SMode {
			return ErrRecord
		}
		u, err := d.readUint(size)
		if err != nil {
			return err
		}
		rec.Double = float64(int64(u)) / 1000
	default:
		if d.InStruct > 0 {
			return ErrRecord
		}
		return ErrType
	}
	return nil
}

// IsBINRPCError reports whether err is a protocol (not an I/O) error.
func IsBINRPCError(err error) bool {
	var e Error
	return errors.As(err, &e)
}
