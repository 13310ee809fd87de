// Package e2e holds sipht's end-to-end tests: they start a real server
// process (Kamailio 5.6 as the oracle, or the sipht binary) on a config from
// examples/, drive it with sipp scenarios (test/e2e/sipp/), inspect it with
// the real kamcmd and its HTTP endpoints, and compare what they saw with
// goldens recorded from Kamailio (test/e2e/testdata/).
//
// Run them with
//
//	go test ./test/e2e -run TestSeed -v
//	go test ./test/e2e -run TestSeedKamailioOracle -update   # re-record goldens from Kamailio
//	SIPHT_BIN=/path/to/sipht go test ./test/e2e -run TestSeedSipht -v
//
// The package has no non-test code; this file only documents it.
package e2e
