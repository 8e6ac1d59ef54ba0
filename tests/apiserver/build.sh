#!/usr/bin/env bash
# Builds tests/apiserver/shim (the standalone Kubernetes 1.36 apiextensions-apiserver
# plus discovery) from the pinned Debian Go source packages in tests/apiserver/debs.
# Needs no network and installs nothing: the .debs are only unpacked.
#
# The binary is cached under a directory named after a hash of its inputs (the
# .deb file names, the Go sources and this script), so a second call is instant.
# Concurrent callers serialize on a lock and the losers reuse the winner's build.
#
# Prints the binary's path on stdout; progress goes to stderr.
#
# Environment:
#   SHOPSYNC_APIEXT_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/shopsync)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
debs=$here/debs
shim_src=$here/shim
cache_root=${SHOPSYNC_APIEXT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shopsync}

log() { echo "apiserver/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

shopt -s nullglob
deb_files=("$debs"/*.deb)
shopt -u nullglob
[[ ${#deb_files[@]} -gt 0 ]] || die "no .deb files in $debs (is the checkout complete?)"
for tool in dpkg-deb flock sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is required but not installed"
done

# File names carry package versions, so they pin the toolchain and libraries.
inputs_hash=$(
  {
    printf '%s\n' "${deb_files[@]##*/}"
    find "$shim_src" -type f -name '*.go' -print0 | sort -z | xargs -0 cat
    cat "${BASH_SOURCE[0]}"
  } | sha256sum | cut -c1-16
)
out_dir=$cache_root/apiext-$inputs_hash
bin=$out_dir/bin/apiext-shim

if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/apiext-$inputs_hash.lock"
flock 9
# Another caller may have finished the build while we waited for the lock.
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi

started=$(date +%s)
work=$(mktemp -d "$cache_root/build-$inputs_hash.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "building apiext-shim ($inputs_hash) in $work; takes about 4 to 6 minutes cold"

log "unpacking ${#deb_files[@]} packages"
for deb in "${deb_files[@]}"; do
  dpkg-deb -x "$deb" "$work/root"
done
goroot=$work/root/usr/lib/go-1.26
[[ -x $goroot/bin/go ]] || die "Go toolchain missing after unpacking (expected $goroot/bin/go)"

# GOPATH mode over Debian's gocode tree, as Debian's own package builds do.
mkdir -p "$work/gopath" "$out_dir/bin"
ln -s "$work/root/usr/share/gocode/src" "$work/gopath/src"
cp -r "$shim_src" "$work/shim"

version_flags="-X k8s.io/component-base/version.gitVersion=v1.36.4"
version_flags+=" -X k8s.io/component-base/version.gitMajor=1"
version_flags+=" -X k8s.io/component-base/version.gitMinor=36"
(
  cd "$work/shim"
  # The Go build cache (about 1.4 GB) goes with the work directory: only the
  # binary is worth keeping.
  env GOROOT="$goroot" GOPATH="$work/gopath" GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off \
    GOFLAGS= CGO_ENABLED=0 GOCACHE="$work/gocache" PATH="$goroot/bin:$PATH" \
    go build -trimpath -ldflags "-s -w $version_flags" -o "$work/apiext-shim" .
)
# Publish atomically so a reader never sees a half-written binary.
mv "$work/apiext-shim" "$bin.tmp"
mv "$bin.tmp" "$bin"
log "built in $(($(date +%s) - started)) s"
echo "$bin"
