//go:build !race

package pike_test

const raceEnabled = false
