package binrpc

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Proto is a ctl transport.
type Proto int

// Transports.
const (
	ProtoUnknown    Proto = iota
	ProtoUnixStream       // "unixs:" / "unix:"
	ProtoUnixDgram        // "unixd:"
	ProtoTCP              // "tcp:"
	ProtoUDP              // "udp:"
)

func (p Proto) String() string {
	switch p {
	case ProtoUnixStream:
		return "unixs"
	case ProtoUnixDgram:
		return "unixd"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return "unknown"
}

// DefaultSocketName is the file name of the default ctl socket.
const DefaultSocketName = "kamailio_ctl"

// DefaultRunDir is Kamailio's (and sipht's) default runtime directory;
// Debian's kamcmd looks for "unixs:/var/run/kamailio//kamailio_ctl".
const DefaultRunDir = "/var/run/kamailio"

// DefaultSpec returns the ctl module's default listen spec for a runtime
// directory: "unixs:<rundir>/kamailio_ctl" (DefaultRunDir when empty).
func DefaultSpec(runDir string) string {
	if runDir == "" {
		runDir = DefaultRunDir
	}
	return "unixs:" + filepath.Join(runDir, DefaultSocketName)
}

// Address is a parsed ctl listen spec or kamcmd -s address.
type Address struct {
	Proto Proto
	// Path is the socket file of unix transports.
	Path string
	// Host is the host of TCP/UDP transports ("" for every address).
	Host string
	// Port is the TCP/UDP port (0 = DefaultPort when listening/dialling).
	Port int
}

// String renders the address in ctl syntax ("unixs:/run/x", "tcp:1.2.3.4:2049").
func (a Address) String() string {
	switch a.Proto {
	case ProtoUnixStream, ProtoUnixDgram:
		return a.Proto.String() + ":" + a.Path
	}
	h := a.Host
	if h == "" {
		h = "*"
	}
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return fmt.Sprintf("%s:%s:%d", a.Proto, h, a.port())
}

func (a Address) port() int {
	if a.Port == 0 {
		return DefaultPort
	}
	return a.Port
}

// Network returns the Go network name ("unix", "unixgram", "tcp", "udp").
func (a Address) Network() string {
	switch a.Proto {
	case ProtoUnixStream:
		return "unix"
	case ProtoUnixDgram:
		return "unixgram"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return ""
}

// HostPort returns "host:port" for TCP/UDP (the port defaulting to 2049,
// an empty host meaning every IPv4 address when listening).
func (a Address) HostPort() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.port()))
}

// IsStream reports whether the transport is connection oriented.
func (a Address) IsStream() bool { return a.Proto == ProtoUnixStream || a.Proto == ProtoTCP }

// ParseListenSpec parses a ctl "binrpc" modparam value: "unixs:/path",
// "unix:/path", "unixd:/path", "tcp:host:port", "tcp:port", "udp:*:port",
// "udp:host"; a bare path (containing '/') is a unix stream socket, a bare
// "host:port" or "host" is UDP, and a missing port is 2049.
func ParseListenSpec(spec string) (Address, error) { return parseSpec(spec, ProtoUDP) }

// ParseClientSpec parses a kamcmd -s address: "[proto:]name[:port]" with
// proto one of tcp, udp, unixs (or unix), unixd. Without a proto a name
// with a port is UDP and anything else uses def (kamcmd: unix stream, or
// UDP with -U).
func ParseClientSpec(spec string, def Proto) (Address, error) { return parseSpec(spec, def) }

// parseSpec follows ctl's and kamcmd's parse_listen_id.
func parseSpec(spec string, def Proto) (Address, error) {
	bad := func(why string) (Address, error) {
		return Address{}, fmt.Errorf("binrpc: bad socket address %q: %s", spec, why)
	}
	proto := ProtoUnknown
	var name, portStr string
	s := spec
	if s == "" {
		return bad("empty")
	}
	hostPart := s
	if !strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			switch strings.ToLower(s[:i]) {
			case "tcp":
				proto = ProtoTCP
			case "udp":
				proto = ProtoUDP
			case "unixd":
				proto = ProtoUnixDgram
			case "unix", "unixs":
				proto = ProtoUnixStream
			}
			if proto != ProtoUnknown {
				hostPart = s[i+1:]
			} else {
				hostPart = ""
				name = s[:i]
				portStr = s[i+1:]
			}
		} else {
			hostPart = ""
			name = s
		}
	}
	if hostPart != "" {
		if strings.HasPrefix(hostPart, "[") {
			end := strings.IndexByte(hostPart, ']')
			if end < 0 {
				return bad("unterminated [ipv6] address")
			}
			name = hostPart[1:end]
			rest := hostPart[end+1:]
			switch {
			case rest == "":
			case strings.HasPrefix(rest, ":"):
				portStr = rest[1:]
			default:
				return bad("garbage after ]")
			}
		} else if i := strings.IndexByte(hostPart, ':'); i >= 0 {
			name = hostPart[:i]
			portStr = hostPart[i+1:]
		} else {
			name = hostPart
		}
	}
	if proto == ProtoUnknown {
		switch {
		case portStr != "":
			if def == ProtoTCP || def == ProtoUDP {
				proto = def
			} else {
				proto = ProtoUDP
			}
		case strings.Contains(name, "/"):
			if def == ProtoTCP || def == ProtoUDP {
				proto = ProtoUnixStream
			} else {
				proto = def
			}
		default:
			proto = def
		}
	}
	a := Address{Proto: proto}
	port := 0
	if portStr != "" {
		p, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			lp, lerr := net.LookupPort(map[Proto]string{ProtoTCP: "tcp", ProtoUDP: "udp"}[proto], portStr)
			if lerr != nil || proto == ProtoUnixStream || proto == ProtoUnixDgram {
				return bad("bad port " + strconv.Quote(portStr))
			}
			p = uint64(lp)
		}
		port = int(p)
	} else if proto == ProtoTCP || proto == ProtoUDP {
		// "tcp:3012" means every address, port 3012
		if p, err := strconv.ParseUint(name, 10, 16); err == nil && name != "" {
			port = int(p)
			name = "*"
		}
	}
	switch proto {
	case ProtoUnixStream, ProtoUnixDgram:
		if name == "" {
			return bad("empty socket path")
		}
		if portStr != "" {
			return bad("a unix socket path cannot contain ':'")
		}
		a.Path = name
	case ProtoTCP, ProtoUDP:
		if name == "*" {
			name = ""
		}
		a.Host = name
		a.Port = port
	default:
		return bad("unknown transport")
	}
	return a, nil
}
