package pike_test

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
)

// rawSender sends UDP datagrams with any 127.x.y.z source address and port
// through a raw socket (needs CAP_NET_RAW; loopback only), as a spoofed
// flood would arrive: one sendto per datagram, no socket per source.
type rawSender struct {
	fd  int
	dst netip.AddrPort
	to  syscall.SockaddrInet4
	buf []byte
}

// newRawSender opens the raw socket, or skips the test when it cannot.
func newRawSender(t testing.TB, dst netip.AddrPort) *rawSender {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		t.Skipf("no raw socket for the spoofed-source flood (needs CAP_NET_RAW): %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return &rawSender{fd: fd, dst: dst, to: syscall.SockaddrInet4{Addr: dst.Addr().As4()}, buf: make([]byte, 0, 2048)}
}

// send sends payload from src. The kernel fills in the IP checksum, total
// length and ID; the UDP checksum is left out (0, allowed over IPv4).
func (r *rawSender) send(src netip.AddrPort, payload []byte) error {
	b := r.buf[:28]
	clear(b)
	b[0] = 0x45 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(payload)))
	b[8] = 64 // TTL
	b[9] = syscall.IPPROTO_UDP
	s4, d4 := src.Addr().As4(), r.dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], r.dst.Port())
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	b = append(b, payload...)
	r.buf = b[:0]
	return syscall.Sendto(r.fd, b, 0, &r.to)
}

// spoofed returns the i-th distinct spoofed source: 127.x.y.z (z >= 10,
// never 127.0.0.x, so test clients on 127.0.0.x stay apart) and a port.
func spoofed(i int) netip.AddrPort {
	n := uint32(i)
	a := netip.AddrFrom4([4]byte{127, byte(1 + n/(246*256)%254), byte(n / 246 % 256), byte(10 + n%246)})
	return netip.AddrPortFrom(a, uint16(1024+i%60000))
}

// optionsFrom is a small OPTIONS as a flood tool sends it.
func optionsFrom(dst []byte, src netip.AddrPort, i int) []byte {
	dst = append(dst, "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	dst = src.AppendTo(dst)
	dst = append(dst, ";branch=z9hG4bK-fl"...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, ";rport\r\nFrom: <sip:100@x>;tag=f"...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, "\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: fl"...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"...)
	return dst
}
