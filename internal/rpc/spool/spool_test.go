package spool

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSpill(t *testing.T) {
	b := New(10, t.TempDir(), 100)
	defer b.Close()
	b.Write([]byte("0123456"))
	if b.Spilled() {
		t.Fatal("spilled early")
	}
	b.Write([]byte("789abcdef"))
	if !b.Spilled() || b.Len() != 16 {
		t.Fatalf("spilled=%v len=%d", b.Spilled(), b.Len())
	}
	if _, ok := b.Bytes(); ok {
		t.Fatal("Bytes of a spilled buffer")
	}
	var out bytes.Buffer
	if _, err := b.WriteTo(&out); err != nil || out.String() != "0123456789abcdef" {
		t.Fatalf("%q %v", out.String(), err)
	}
	// a second WriteTo rewinds
	out.Reset()
	b.WriteTo(&out)
	if out.String() != "0123456789abcdef" {
		t.Fatalf("second WriteTo %q", out.String())
	}
	b.Reset()
	b.Write([]byte("xyz"))
	out.Reset()
	b.WriteTo(&out)
	if out.String() != "xyz" || b.Spilled() {
		t.Fatalf("after Reset %q", out.String())
	}
}

func TestMax(t *testing.T) {
	b := New(4, t.TempDir(), 20)
	defer b.Close()
	if _, err := b.Write([]byte(strings.Repeat("a", 20))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("b")); !errors.Is(err, ErrTooBig) {
		t.Fatalf("err %v", err)
	}
	if _, err := b.Write([]byte("c")); !errors.Is(err, ErrTooBig) {
		t.Fatal("error not sticky")
	}
	b.Reset()
	if _, err := b.Write([]byte("ok")); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
}
