// Command sipht is a SIP server built around Kamailio's htable: it runs a
// Kamailio-style config (the subset sipht supports) in the foreground.
//
//	sipht                      run the embedded default config (examples/seed.cfg)
//	sipht -f FILE              run FILE (as kamailio -DD -E -f FILE)
//	sipht -c [-f FILE]         check the config and exit 0/1 (as kamailio -c)
//	sipht -A NAME[=VALUE]      define NAME for the config's preprocessor (repeatable)
//	sipht -V                   print the version
//	sipht ctl METHOD [ARGS]    kamcmd-compatible management client
//	sipht user add|rm|list     manage the subscriber table (as kamctl add)
//	sipht db init [DB_URL]     create the database tables sipht uses
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sipht/sipht/examples"
	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/procs"
	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/server"
	_ "github.com/sipht/sipht/modules/all"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defineList collects repeated -A flags.
type defineList []cfg.Define

func (d *defineList) String() string { return "" }

func (d *defineList) Set(s string) error {
	def, err := cfg.ParseDefineArg(s)
	if err != nil {
		return err
	}
	*d = append(*d, def)
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "ctl":
			return ctlcli.Main(args[1:], stdout, stderr)
		case "user":
			return userMain(args[1:], stdout, stderr)
		case "db":
			return dbMain(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("sipht", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "config `file` (default: the embedded seed config)")
	check := fs.Bool("c", false, "check the config and exit")
	version := fs.Bool("V", false, "print the version and exit")
	forceStderr := fs.Bool("E", false, "log to stderr whatever log_stderror says")
	adaptive := fs.Bool("adaptive-procs", true, "run on one scheduler P while the load is light, on all under load (internal/procs; off when GOMAXPROCS is set)")
	logEngine := fs.String("log-engine", "", "`json`: log in JSON, as kamailio --log-engine=json (Kamailio's flags after \"json:\" are ignored)")
	var defines defineList
	fs.Var(&defines, "A", "define `NAME[=VALUE]` for the preprocessor (repeatable)")
	// Accepted for kamailio command-line compatibility: sipht always runs
	// in the foreground.
	fs.Bool("D", false, "ignored: sipht always runs in the foreground")
	fs.Bool("DD", false, "ignored: sipht always runs in the foreground")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sipht: unexpected argument %q (see sipht -h)\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintf(stdout, "version: sipht %s (%s)\n", core.Version, core.DefaultServerHeader())
		return 0
	}
	opts := server.Options{File: *file, Defines: defines, ForceStderr: *forceStderr, LogWriter: stderr, LogEngine: *logEngine}
	if *file == "" {
		opts.Source, opts.SourceName = examples.Seed, "embedded:seed.cfg"
		if !*check {
			if err := os.MkdirAll("data", 0o755); err != nil {
				fmt.Fprintf(stderr, "sipht: create the data folder: %v\n", err)
				return 1
			}
		}
	}
	if *check {
		opts.ForceStderr = true
	}
	srv, err := server.Load(opts)
	if err != nil {
		printErrors(stderr, err)
		if *check {
			if sum := server.Summarize(err).String(); sum != "" {
				fmt.Fprintf(stderr, "\nsummary:\n%s", sum)
			}
		}
		return 1
	}
	if *check {
		fmt.Fprintln(stderr, "config file ok, exiting...")
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *adaptive && os.Getenv("GOMAXPROCS") == "" {
		go (&procs.Governor{Logger: srv.Log}).Run(ctx)
	}
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "sipht: %v\n", err)
		return 1
	}
	return 0
}

func printErrors(w io.Writer, err error) {
	for _, e := range cfg.Errors(err) {
		for _, line := range strings.Split(e.Error(), "\n") {
			fmt.Fprintf(w, "ERROR: %s\n", line)
		}
	}
}

const usage = `usage: sipht [-f FILE] [-c] [-A NAME[=VALUE]]... [-E] [--log-engine=json] [-V]
       sipht ctl [-s SOCKET] METHOD [ARGS...]
       sipht user add|rm|list ...
       sipht db init [DB_URL]

Runs a Kamailio-style config in the foreground; without -f, the embedded
default config (the seed registrar, SQLite in ./data).

`
