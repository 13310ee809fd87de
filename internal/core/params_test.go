package core

import (
	"io"
	"log/slog"
	"testing"

	"github.com/sipht/sipht/internal/cfg"
)

// An explicit port 0 asks for a free port (what tests write); a listen
// without a port gets port= (default 5060).
func TestListenPortZero(t *testing.T) {
	f, err := cfg.Parse("t.cfg", []byte("listen=udp:127.0.0.1:0\nlisten=tcp:127.0.0.1\nlisten=udp:127.0.0.2:5070\n"), cfg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := FromFile(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, l := range p.Listen {
		ports = append(ports, l.Port)
	}
	if len(ports) != 3 || ports[0] != 0 || ports[1] != 5060 || ports[2] != 5070 {
		t.Fatalf("ports %v, want [0 5060 5070]", ports)
	}
}
