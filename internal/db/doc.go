// Package db is sipht's one database layer behind `db_url`, shared by
// every module that keeps data in a database (htable, auth_db, later
// usrloc). It reads and writes the same tables Kamailio does, so a
// Kamailio deployment can switch to sipht, or run beside it, on the same
// data. It deals in rows; it knows nothing of the in-memory htable engine.
//
// # db_url
//
// ParseURL / Open accept
//
//	sqlite:///abs/path.db          pure-Go SQLite (modernc.org/sqlite), the embedded default
//	sqlite:///./rel/path.db        relative to Options.WorkDir; also sqlite://rel/path.db
//	mysql://user:pass@host[:port]/db       MySQL and MariaDB (go-sql-driver/mysql)
//	postgres://user:pass@host[:port]/db    PostgreSQL (pgx via database/sql); postgresql:// too
//
// Kamailio's own forms work unchanged: "sqlite:///etc/kamailio/kamailio.db"
// and the db_sqlite README's "sqlite:////var/mydb.sqlite" both mean the
// absolute path. Kamailio would read "sqlite://rel/x.db" as host "rel" and
// file "x.db" relative to its working directory; sipht reads rel/x.db
// relative to WorkDir (see ParseURL). Like Kamailio, user and password are
// not percent-decoded and the password ends at the last '@'. A short list
// of '?' parameters per driver is accepted (journal_mode, busy_timeout,
// synchronous; connect_timeout, tls, sslmode); anything else is an error.
// No error and no log line ever contains the password (URL.String,
// RedactURL, ConnectError).
//
// SQLite runs in WAL mode with busy_timeout 5000 ms, synchronous=NORMAL,
// BEGIN IMMEDIATE for transactions and one connection per process (one
// writer; Kamailio and `sipht user add` can use the same file meanwhile).
// MySQL and PostgreSQL pools hold 4 connections.
//
// Open retries an unreachable server with exponential backoff (250 ms
// doubling to 5 s, 30 s in all by default, cancellable) and names host:port,
// database, user and the driver's error when it gives up; access denied and
// unknown database fail at once.
//
// # Schema
//
// Init creates what is missing, as `kamdbctl create` would for these tables,
// and never drops or alters data: the version table (version=1), htable
// tables (version 2) and subscriber (version 7), with the same column types,
// defaults, constraint and index names as Kamailio's creation scripts
// (TestSchemaMatchesKamailio compares them with /usr/share/kamailio/*).
// Column widths default to Kamailio 5.6's key_name VARCHAR(64) and key_value
// VARCHAR(128) (Widths56); Widths60 gives 6.0's 256/512, which Kamailio 5.6
// uses unchanged. On top of Kamailio's schema, every htable table gets a
// non-unique index <table>_<key column>_idx: write-behind deletes by key, and
// without the index each delete scans the table. Kamailio never notices it.
// It cannot be unique because array rows share a key_name.
//
// CheckVersion gives a *SchemaError naming the table and what to do for a
// missing table, a missing version row or an old version.
//
// # htable rows
//
// LoadHTable streams SELECT key_name,key_type,value_type,key_value[,expires]
// FROM t ORDER BY key_name (expires only when asked, as with db_expires=1 on
// an autoexpire table) through a callback; memory does not grow with the
// table (about 3 MiB of heap while streaming 1M rows). ArrayFlattener turns
// key_type=1 rows into name[i] items plus the name::size item exactly as
// Kamailio 5.6's loader does (checked against the real Kamailio);
// LoadItems combines both with Kamailio's expiry skip. LoadCols is the
// cols= form (coldelim, colnull, Kamailio's 4 KiB limit). A bad row (NULL
// key, value_type=1 with a non-integer value, ...) is a *RowError naming
// table, row, key and column; OnBadRow may skip it instead. Kamailio would
// silently load the digits before the first bad byte.
//
// SaveHTable is dbmode=1 / htable.store: DELETE FROM t, then every row with
// key_type 0 and integers as decimal text, expires only when asked, all in
// one transaction with multi-row INSERTs (COPY on PostgreSQL). Kamailio
// deletes and inserts row by row in autocommit: a crash or its 60 s
// shutdown timeout mid-save loses the table (measured: on disk, Kamailio
// 5.6 with db_sqlite saves about 90 rows/s). Rows that the database would
// refuse (longer than the column, not UTF-8) are skipped and reported
// through OnSkip, as Kamailio logs "failed to store key" and goes on,
// instead of aborting the transaction.
//
// # Write-behind (dbmode=2, a sipht extension)
//
// Writer mirrors an in-memory table into its database table within a
// bounded delay (Interval, default 1 s). The hot path (Set, Delete,
// DeleteMatching, Truncate) only records the latest state of each key under
// a mutex, never touching the database; a background goroutine writes the
// queue in one transaction per interval (DELETE ... WHERE key_name IN (...)
// then a multi-row INSERT), retries with backoff while the database fails,
// and keeps absorbing changes meanwhile. The queue is bounded (MaxPending
// distinct keys): beyond it changes are counted and logged, the queue is
// dropped and a full save (SaveHTable from WriterOptions.Source, or the
// owner's SaveAll) catches up. Pattern deletes and truncates are ordered
// with the key changes around them. A kill -9 loses at most the changes of
// the last interval (TestWriterSurvivesKill9).
//
// # Subscriber table
//
// Subscribers looks up credentials for auth_db (column names as its
// params) and adds, changes, removes and lists users as kamctl does: realm
// = domain, ha1 = MD5(user:domain:password), ha1b =
// MD5(user@domain:domain:password), plain password stored unless
// NoPlaintext (kamctl's STORE_PLAINTEXT_PW=0). TestAddUserMatchesKamctl
// compares a row with one written by the real kamctl.
package db
