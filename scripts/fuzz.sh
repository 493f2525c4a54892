#!/usr/bin/env bash
# fuzz.sh [seconds | Nx]: runs every Go fuzz target in the repository, one at
# a time, for that many seconds (or N executions) each (default 10 seconds),
# and stops at the first one that fails. A failing input is written by `go test` to the package's
# testdata/fuzz/<Target>/ directory, where plain `go test` replays it from
# then on: commit it with the fix, as a regression case.
#
# Targets are found, not listed: any `func FuzzXxx(` at the start of a line
# in a *_test.go file. `make fuzz` runs this with FUZZTIME seconds; `make
# test` with a fixed number of executions per target, as a smoke test beside
# the seed corpora that plain `go test` always runs. A count, because with a
# duration Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" and no input when its deadline races a busy worker
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
#
# Environment: GO (default go); FUZZ_PARALLEL sets -parallel (default: the
# number of CPUs, as go test does).
set -euo pipefail

budget="${1:-10}"
if [[ "$budget" =~ ^[1-9][0-9]*x$ ]]; then
	fuzztime="$budget" # executions
elif [[ "$budget" =~ ^[1-9][0-9]*$ ]]; then
	fuzztime="${budget}s"
else
	echo "usage: $0 [seconds per target (default 10) | Nx executions per target]" >&2
	exit 2
fi
GO="${GO:-go}"
cd "$(dirname "$0")/.."

parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZ_PARALLEL")
fi

# "dir target" pairs, sorted so runs are reproducible.
mapfile -t targets < <(
	grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . \
		--exclude-dir=node_modules --exclude-dir=.git --exclude-dir=bin --exclude-dir=testdata |
		sed -E 's|^\./(.*)/[^/]+_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' |
		sort -u
)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

echo "fuzz: ${#targets[@]} targets, ${fuzztime} each"
start=$SECONDS
for t in "${targets[@]}"; do
	dir="${t% *}"
	name="${t#* }"
	echo "fuzz: ./$dir $name"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "${parallel[@]}" "./$dir"; then
		echo "fuzz: $name in ./$dir FAILED; the input is in $dir/testdata/fuzz/$name/" >&2
		echo "fuzz: replay it with: $GO test -run '^$name\$' ./$dir" >&2
		exit 1
	fi
done
echo "fuzz: all ${#targets[@]} targets passed in $((SECONDS - start))s"
