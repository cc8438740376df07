#!/usr/bin/env bash
# Seeds the fuzz corpora from what the project already has: every runbook in runbooks/ and
# tests/fixtures/, and the journals of a sim drill of each example (one whole run, one resumed
# after a crash cut, one torn mid-line), made by the binary REBOUND_BIN (default: release).
# Usage: fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
bin=${REBOUND_BIN:-../target/release/rebound}
mkdir -p corpus/runbook corpus/journal
cp ../runbooks/*.runbook ../tests/fixtures/*/*.runbook corpus/runbook/
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for rb in ../runbooks/*.runbook; do
  name=$(basename "$rb" .runbook)
  "$bin" run "$rb" --drill --approve --seed 1 -q --state-dir "$work/$name" \
    --report-dir "$work/$name-report" >/dev/null 2>&1 || true
  for j in "$work/$name"/*.journal; do
    [ -f "$j" ] || continue
    cp "$j" "corpus/journal/$name.journal"
    # A crash mid-write leaves a torn last line.
    head -c "$(( $(wc -c < "$j") * 2 / 3 ))" "$j" > "corpus/journal/$name-torn.journal"
  done
  # Killed before its 8th record, then resumed: a journal with a `resumed` record in it.
  # (In a subshell, whose stderr takes the shell's own "Killed" line.)
  (REBOUND_CRASH_BEFORE_RECORD=8 "$bin" run "$rb" --drill --approve --seed 1 -q \
    --state-dir "$work/$name-crash" || true) >/dev/null 2>&1
  for j in "$work/$name-crash"/*.journal; do
    [ -f "$j" ] || continue
    "$bin" resume "$(basename "$j" .journal)" -q --state-dir "$work/$name-crash" >/dev/null 2>&1 || true
    cp "$j" "corpus/journal/$name-resumed.journal"
  done
done
echo "corpus: $(ls corpus/runbook | wc -l) runbooks, $(ls corpus/journal | wc -l) journals"
