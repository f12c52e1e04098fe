#!/usr/bin/env bash
# Build the pinned OPA CLI from source (via this wrapper module) once, cache
# it, and print the binary's path on stdout. All build output goes to stderr,
# so callers can do:  OPA="$(tools/opa/build.sh)"
#
# Cache dir: ${GOVERN_OPA_CACHE:-$HOME/.cache/govern/opa}; binary: opa-<version>.
# The OPA version is the one pinned in tools/opa/go.mod (bump it there with
# `go get github.com/open-policy-agent/opa@vX.Y.Z && go mod tidy`).
# A cached binary is reused as long as `opa version` runs and reports that
# version; `go` is needed only when a build is actually required.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="github.com/open-policy-agent/opa"

die() { echo "tools/opa/build.sh: error: $*" >&2; exit 1; }

version="$(awk -v m="$module" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$here/go.mod" | head -n1)"
[ -n "$version" ] || die "could not find the $module version in $here/go.mod"
plain="${version#v}"

cache_dir="${GOVERN_OPA_CACHE:-${HOME:?HOME is not set}/.cache/govern/opa}"
bin="$cache_dir/opa-$version"

works() {
    [ -x "$1" ] || return 1
    local out
    out="$("$1" version 2>/dev/null)" || return 1
    grep -qx "Version: $plain" <<<"$out"
}

if works "$bin"; then
    echo "$bin"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "'go' not found on PATH; install Go (>= the 'go' line in $here/go.mod) to build OPA $version, or put a working binary at $bin"

mkdir -p "$cache_dir"
tmp="$(mktemp "$cache_dir/.opa-$version.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

echo "tools/opa/build.sh: building OPA $version from source into $bin ..." >&2
start=$SECONDS
(
    cd "$here"
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$tmp" . 1>&2
) || die "go build of OPA $version failed (see output above)"
chmod 0755 "$tmp"
works "$tmp" || die "freshly built $tmp does not report 'Version: $plain' from 'opa version'"
mv -f "$tmp" "$bin"
trap - EXIT
echo "tools/opa/build.sh: built OPA $version in $((SECONDS - start))s" >&2
echo "$bin"
