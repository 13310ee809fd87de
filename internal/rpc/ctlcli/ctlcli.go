// Package ctlcli implements "sipht ctl", a kamcmd-compatible command line
// client for the BINRPC ctl socket: the same -s address syntax and default
// socket, the same argument typing (numbers become INT or DOUBLE, "s:"
// forces a string), the same output (tab-indented records, -f formats,
// "error: <code> - <text>" faults), plus what kamcmd lacks: no reply size
// limit (replies are decoded and printed as they stream in, in bounded
// memory), a --json output mode, and a non-zero exit status on faults.
package ctlcli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sipht/sipht/internal/kamjson"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
)

// Exit statuses.
const (
	ExitOK    = 0 // the server replied
	ExitFault = 1 // the server replied with a fault
	ExitUsage = 2 // bad command line
	ExitError = 3 // connection, transport or protocol error
)

// DefaultSocket is kamcmd's default: the ctl module's default socket in
// Kamailio's (and sipht's) runtime directory.
var DefaultSocket = binrpc.DefaultSpec(binrpc.DefaultRunDir)

// Version is printed by -V.
var Version = "dev"

const usage = `Usage: sipht ctl [options] [-s address] method [arg1 [arg2...]]
Options:
    -s address  unix socket name or host name to send the commands on
                (default %s)
    -R name     force reply socket name, for the unix datagram socket mode
    -D dir      create the reply socket in the directory <dir> if no reply
                socket is forced (-R) and a unix datagram socket is selected
                as the transport
    -f format   print the result using format. Format is a string containing
                %%v at the places where values read from the reply should be
                substituted. To print '%%v', escape it using '%%': %%%%v.
    -j, --json  print the result as JSON (as the JSON-RPC result would be)
    -t timeout  give up when the server sends nothing for this long
                (seconds or a Go duration, default 30s, 0 = wait forever)
    -U          without a proto in -s, use UDP for host:port
    -v          verbose
    -V          version number
    -h          this help message
address:
    [proto:]name[:port]   where proto is one of tcp, udp, unixs or unixd
                          e.g.:  tcp:localhost:2049 , unixs:/tmp/kamailio_ctl
arg:
     string or number; to force a number to be interpreted as string
     prefix it by "s:", e.g. s:1
Exit status: 0 on a reply, 1 on a fault reply, 2 on a usage error,
3 when the server cannot be reached or the reply cannot be read.
Unlike kamcmd, options must come before the method, and arguments after
it may start with '-' (negative numbers).
`

// aliases of kamcmd (with their reply formats).
var aliases = map[string][2]string{
	"ps":                     {"core.ps", "%v\t%v\n"},
	"psx":                    {"core.psx", ""},
	"list":                   {"system.listMethods", ""},
	"ls":                     {"system.listMethods", ""},
	"ver":                    {"core.version", ""},
	"version":                {"core.version", ""},
	"who":                    {"ctl.who", "[%v] %v: %v %v -> %v %v\n"},
	"listen":                 {"ctl.listen", "[%v] %v: %v %v\n"},
	"dns_mem_info":           {"dns.mem_info", "%v / %v\n"},
	"dst_blacklist_mem_info": {"dst_blacklist.mem_info", "%v / %v\n"},
}

type options struct {
	sock       string
	replySock  string
	replyDir   string
	format     string
	hasFormat  bool
	json       bool
	timeout    time.Duration
	udp        bool
	verbose    int
	method     string
	args       []string
	showHelp   bool
	showVer    bool
	usageError string
}

func parseOptions(argv []string) options {
	o := options{timeout: 30 * time.Second}
	i := 0
	need := func(flag byte, rest string) (string, bool) {
		if rest != "" {
			return rest, true
		}
		if i+1 < len(argv) {
			i++
			return argv[i], true
		}
		o.usageError = fmt.Sprintf("Option `-%c' requires an argument.", flag)
		return "", false
	}
	for ; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			i++
			break
		}
		if a == "--json" {
			o.json = true
			continue
		}
		if a == "--help" {
			o.showHelp = true
			continue
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			rest := a[j+1:]
			switch c {
			case 's', 'R', 'D', 'f', 't':
				v, ok := need(c, rest)
				if !ok {
					return o
				}
				switch c {
				case 's':
					o.sock = v
				case 'R':
					o.replySock = v
				case 'D':
					o.replyDir = v
				case 'f':
					o.format, o.hasFormat = unescape(v), true
				case 't':
					d, err := parseTimeout(v)
					if err != nil {
						o.usageError = "bad -t timeout: " + err.Error()
						return o
					}
					o.timeout = d
				}
				j = len(a)
			case 'j':
				o.json = true
			case 'U':
				o.udp = true
			case 'v':
				o.verbose++
			case 'V':
				o.showVer = true
			case 'h':
				o.showHelp = true
			default:
				o.usageError = fmt.Sprintf("Unknown option `-%c'.", c)
				return o
			}
		}
	}
	if i < len(argv) {
		o.method = argv[i]
		o.args = argv[i+1:]
	}
	return o
}

func parseTimeout(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, errors.New("negative")
	}
	return d, err
}

// Main runs "sipht ctl" with the arguments that follow "ctl" and returns
// the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	o := parseOptions(args)
	if o.usageError != "" {
		fmt.Fprintln(stderr, o.usageError)
		return ExitUsage
	}
	if o.showHelp {
		fmt.Fprintf(stdout, "version: sipht ctl %s\n", Version)
		fmt.Fprintf(stdout, usage, DefaultSocket)
		return ExitOK
	}
	if o.showVer {
		fmt.Fprintf(stdout, "version: sipht ctl %s\n", Version)
		return ExitOK
	}
	if o.method == "" {
		fmt.Fprintln(stderr, "ERROR: no command specified (sipht ctl has no interactive mode); see sipht ctl -h")
		return ExitUsage
	}
	if o.json && o.hasFormat {
		fmt.Fprintln(stderr, "ERROR: -f and --json cannot be used together")
		return ExitUsage
	}
	method := o.method
	if a, ok := aliases[method]; ok {
		method = a[0]
		if !o.hasFormat && a[1] != "" && !o.json {
			o.format, o.hasFormat = a[1], true
		}
	}
	params := make([]rpc.Value, len(o.args))
	for i, w := range o.args {
		params[i] = ParseArg(w)
	}
	sock := o.sock
	if sock == "" {
		sock = DefaultSocket
	}
	def := binrpc.ProtoUnixStream
	if o.udp {
		def = binrpc.ProtoUDP
	}
	addr, err := binrpc.ParseClientSpec(sock, def)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: error parsing server socket address %s\n", sock)
		return ExitError
	}
	ctx := context.Background()
	c, err := binrpc.DialAddress(ctx, addr, binrpc.ClientOptions{
		Timeout: o.timeout, ReplySocket: o.replySock, ReplyDir: o.replyDir,
	})
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return ExitError
	}
	defer c.Close()

	out := bufio.NewWriterSize(stdout, 32<<10)
	defer out.Flush()

	if method == "help" || method == "?" {
		return help(ctx, c, out, stderr, o.args)
	}

	arrayResult := true
	if o.json {
		arrayResult = probeArray(ctx, c, method)
	}
	rep, err := c.Call(ctx, method, params...)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return ExitError
	}
	status := ExitOK
	switch {
	case rep.IsFault() && o.json:
		f, err := rep.Fault()
		if err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "ERROR: while parsing the reply: %v\n", err)
			return ExitError
		}
		b := []byte("{\n\t\"code\":\t")
		b = strconv.AppendInt(b, int64(f.Code), 10)
		b = append(b, ",\n\t\"message\":\t"...)
		b = append(kamjson.AppendString(b, f.Message), "\n}\n"...)
		out.Write(b)
		status = ExitFault
	case rep.IsFault():
		out.WriteString("error: ")
		err = printBody(out, rep, "%v - %v\n", true)
		status = ExitFault
	case o.json:
		err = printJSON(out, rep, arrayResult)
	default:
		err = printBody(out, rep, o.format, o.hasFormat)
	}
	if err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return ExitError
	}
	if o.verbose > 0 {
		out.WriteString(".\n")
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "ERROR: writing output: %v\n", err)
		return ExitError
	}
	return status
}

// probeArray asks sipht's system.methodSignature whether method returns
// an array (RET_ARRAY). Servers without it (Kamailio answers "Not
// Implemented Yet") get the array form.
func probeArray(ctx context.Context, c *binrpc.Client, method string) bool {
	rep, err := c.Call(ctx, "system.methodSignature", rpc.Str(method))
	if err != nil || rep.IsFault() {
		return true
	}
	defer rep.Discard()
	for i := 0; i < 3; i++ {
		r, err := rep.Next()
		if err != nil {
			return true
		}
		if r.Type == binrpc.RecStr {
			return string(r.Str) == "array"
		}
	}
	return true
}

// help implements kamcmd's "help" builtin.
func help(ctx context.Context, c *binrpc.Client, out *bufio.Writer, stderr io.Writer, args []string) int {
	if len(args) > 0 {
		name := args[0]
		if a, ok := aliases[name]; ok {
			fmt.Fprintf(out, "%s is an alias for %s", name, a[0])
			if a[1] != "" {
				fmt.Fprintf(out, " with reply formatting: \"%s\"", strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(a[1]))
			}
			out.WriteString("\n")
			return ExitOK
		}
		rep, err := c.Call(ctx, "system.methodHelp", rpc.Str(name))
		if err != nil {
			fmt.Fprintf(stderr, "ERROR: %v\n", err)
			return ExitError
		}
		if rep.IsFault() {
			fmt.Fprintf(out, "error: no such command %s\n", name)
			rep.Discard()
			return ExitFault
		}
		if err := printBody(out, rep, "", false); err != nil {
			fmt.Fprintf(stderr, "ERROR: %v\n", err)
			return ExitError
		}
		return ExitOK
	}
	rep, err := c.Call(ctx, "system.listMethods")
	if err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return ExitError
	}
	if err := printBody(out, rep, "", false); err != nil {
		fmt.Fprintf(stderr, "ERROR: %v\n", err)
		return ExitError
	}
	for _, n := range []string{"ps", "psx", "list", "ls", "ver", "version", "who", "listen", "dns_mem_info", "dst_blacklist_mem_info"} {
		fmt.Fprintf(out, "alias: %s\n", n)
	}
	for _, n := range []string{"?", "help"} {
		fmt.Fprintf(out, "builtin: %s\n", n)
	}
	return ExitOK
}
