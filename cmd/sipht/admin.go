package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sipht/sipht/internal/db"
)

// defaultDBURL is the embedded seed config's database, relative to the
// working directory as the config's workdir="." makes it.
const defaultDBURL = "sqlite:///./data/sipht.db"

// dbURLFromEnv returns the database to manage: the --db flag, else
// $SIPHT_DB_URL, else the embedded config's SQLite file.
func dbURLFromEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("SIPHT_DB_URL"); v != "" {
		return v
	}
	return defaultDBURL
}

func openDB(ctx context.Context, url string, stderr io.Writer) (*db.DB, error) {
	return db.Open(ctx, url, db.Options{
		CreateDir:    true,
		StartTimeout: 15 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

const userUsage = `usage: sipht user [--db DB_URL] add USER@DOMAIN PASSWORD
       sipht user [--db DB_URL] passwd USER@DOMAIN PASSWORD
       sipht user [--db DB_URL] rm USER@DOMAIN
       sipht user [--db DB_URL] list

Manages auth_db's subscriber table as kamctl add/passwd/rm do: ha1 and ha1b
are computed with the domain as realm, and the password is stored too (what
auth_db needs with calculate_ha1=1). The table is created when missing.
DB_URL defaults to $SIPHT_DB_URL, else ` + defaultDBURL + `.
`

// userMain implements `sipht user add|passwd|rm|list`.
func userMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sipht user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbFlag := fs.String("db", "", "database `URL`")
	table := fs.String("table", "subscriber", "subscriber table `name`")
	fs.Usage = func() { fmt.Fprint(stderr, userUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	want := map[string]int{"add": 3, "passwd": 3, "rm": 2, "list": 1}
	n, ok := want[rest[0]]
	if !ok || len(rest) != n {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := openDB(ctx, dbURLFromEnv(*dbFlag), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sipht user: %v\n", err)
		return 1
	}
	defer d.Close()
	if _, err := d.Init(ctx, db.Subscriber(*table)); err != nil {
		fmt.Fprintf(stderr, "sipht user: %v\n", err)
		return 1
	}
	subs := db.NewSubscribers(d, *table)
	if rest[0] == "list" {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tDOMAIN\tHA1")
		err := subs.ListUsers(ctx, func(r db.SubscriberRow) error {
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\n", r.User, r.Domain, r.HA1)
			return err
		})
		tw.Flush()
		if err != nil {
			fmt.Fprintf(stderr, "sipht user list: %v\n", err)
			return 1
		}
		return 0
	}
	user, domain, err := db.SplitAOR(rest[1], "")
	if err != nil {
		fmt.Fprintf(stderr, "sipht user %s: %v\n", rest[0], err)
		return 2
	}
	switch rest[0] {
	case "add":
		err = subs.AddUser(ctx, user, domain, rest[2], db.AddOptions{})
	case "passwd":
		err = subs.SetPassword(ctx, user, domain, rest[2], db.AddOptions{})
	case "rm":
		err = subs.RemoveUser(ctx, user, domain)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sipht user %s %s@%s: %v\n", rest[0], user, domain, err)
		return 1
	}
	return 0
}

const dbUsage = `usage: sipht db init [--wide] [DB_URL]

Creates what is missing of the tables sipht and Kamailio share: version,
htable (version 2) and subscriber (version 7), with Kamailio 5.6's column
widths (--wide: 6.0's key_name 256 / key_value 512). Never drops or changes
existing data. DB_URL defaults to $SIPHT_DB_URL, else ` + defaultDBURL + `.
`

// dbMain implements `sipht db init [DB_URL]`.
func dbMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprint(stderr, dbUsage)
		return 2
	}
	fs := flag.NewFlagSet("sipht db init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wide := fs.Bool("wide", false, "use Kamailio 6.0's wider htable columns")
	fs.Usage = func() { fmt.Fprint(stderr, dbUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := openDB(ctx, dbURLFromEnv(fs.Arg(0)), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sipht db init: %v\n", err)
		return 1
	}
	defer d.Close()
	ht := db.HTable("htable")
	if *wide {
		ht.Widths = db.Widths60
	}
	rep, err := d.Init(ctx, ht, db.Subscriber("subscriber"))
	if err != nil {
		fmt.Fprintf(stderr, "sipht db init: %v\n", err)
		return 1
	}
	report := func(what string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(stdout, "%s: %s\n", what, strings.Join(items, ", "))
		}
	}
	report("created", rep.Created)
	report("indexes added", rep.Indexes)
	report("version rows added", rep.VersionRows)
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "note: %s\n", n)
	}
	if len(rep.Created)+len(rep.Indexes)+len(rep.VersionRows) == 0 {
		fmt.Fprintln(stdout, "nothing to do: every table is there")
	}
	return 0
}
