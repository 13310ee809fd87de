#!/usr/bin/env bash
# test/e2e/compare.sh -- run the end-to-end scenarios against Kamailio 5.6
# (which must match the goldens in test/e2e/testdata/) and against sipht
# (which must match the same goldens), so that a pass means: same replies,
# same log lines, same kamcmd and JSON-RPC output as Kamailio.
#
#   test/e2e/compare.sh                       # sipht built from ./cmd/sipht
#   SIPHT_BIN=./bin/sipht test/e2e/compare.sh
#   test/e2e/compare.sh -update               # re-record goldens from Kamailio first
set -euo pipefail
cd "$(dirname "$0")/../.."
update=()
[[ ${1:-} == -update ]] && update=(-update)
echo "== Kamailio (oracle)"
go test -count=1 ./test/e2e -run 'TestExamplesKamailioCheck|KamailioOracle' -v "${update[@]}" | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|_test.go'
echo "== sipht"
go test -count=1 ./test/e2e -run 'Sipht' -v | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|_test.go'
