package auth

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// BenchmarkNonce: creating and checking one nonce, next to Kamailio's
// scheme (MD5 over the times and the secret) done the same way.
//
//	go test -run '^$' -bench BenchmarkNonce -benchmem ./modules/auth/
func BenchmarkNonce(b *testing.B) {
	n := mustNonces(b, NonceOptions{Secret: []byte("bench-secret")})
	buf := make([]byte, 0, MaxLen)
	b.Run("sipht-hmac-sha256", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf = n.Append(buf[:0], nil)
			if n.Check(unsafeString(buf), nil, "") != NonceOK {
				b.Fatal("check")
			}
		}
	})
	secret := []byte("bench-secret")
	b.Run("kamailio-md5-scheme", func(b *testing.B) {
		b.ReportAllocs()
		var raw, in [64]byte
		var dec [32]byte
		for range b.N {
			now := uint32(time.Now().Unix())
			binary.BigEndian.PutUint32(raw[0:], now+300)
			binary.BigEndian.PutUint32(raw[4:], now)
			copy(in[:8], raw[:8])
			k := copy(in[8:], secret)
			sum := md5.Sum(in[:8+k])
			copy(raw[8:], sum[:])
			buf = base64.RawStdEncoding.AppendEncode(buf[:0], raw[:24])
			if _, err := base64.RawStdEncoding.Decode(dec[:], buf); err != nil {
				b.Fatal(err)
			}
			copy(in[:8], dec[:8])
			if md5.Sum(in[:8+k]) != [16]byte(dec[8:24]) {
				b.Fatal("check")
			}
		}
	})
}

func BenchmarkParseCredentials(b *testing.B) {
	v := `Digest username="alice", realm="example.com", nonce="awgdd2sIHEu3nDo1dkFL3+/fD9lhFkJG", uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="0a4f113b", algorithm=MD5`
	var c Credentials
	b.ReportAllocs()
	for range b.N {
		if ParseCredentials(v, &c) != ParseOK {
			b.Fatal("parse")
		}
	}
}

func BenchmarkCheckResponse(b *testing.B) {
	c := Credentials{Username: "alice", Realm: "example.com", Nonce: "awgdd2sIHEu3nDo1dkFL3+/fD9lhFkJG", URI: "sip:example.com",
		Response: "6629fae49393a05397450978507c4ef1"}
	for _, a := range []Algorithm{MD5, SHA256} {
		b.Run(a.String(), func(b *testing.B) {
			c := c
			c.Response = strings.Repeat("0", a.HexLen())
			var buf [64]byte
			ha1 := string(a.HA1(buf[:], "alice", "example.com", "secret"))
			b.ReportAllocs()
			for range b.N {
				a.CheckResponse(ha1, &c, "REGISTER", nil)
			}
		})
	}
}
