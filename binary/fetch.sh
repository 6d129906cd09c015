#!/usr/bin/env bash
# The composite action's first step (binary/action.yml): fetch the
# runtime-action release binary for this runner's OS and architecture, check
# it against binary/SHA256SUMS (kept in the release commit, not fetched),
# keep it in the runner's tool cache, and output its path.
#
# RUNTIME_ACTION_DOWNLOAD_URL replaces the release downloads' base URL (a
# mirror, or the tests' stand-in); the checksums are the commit's whatever
# the source.
set -euo pipefail

fail() {
  echo "::error title=$1::$2"
  exit 1
}

here="${GITHUB_ACTION_PATH:?}"
if [ ! -f "$here/VERSION" ] || [ ! -f "$here/SHA256SUMS" ]; then
  fail "No release binary" "binary/VERSION and binary/SHA256SUMS are written by releases: use the action from a release tag, e.g. dlthub/runtime-action/binary@v1"
fi
version=$(tr -d ' \r\n' <"$here/VERSION")
case "${RUNNER_OS_NAME:-}" in
  Linux) os=linux ;;
  macOS) os=darwin ;;
  Windows) os=windows ;;
  *) fail "Unsupported runner" "no release binary for the runner OS \"${RUNNER_OS_NAME:-}\"" ;;
esac
case "${RUNNER_ARCH_NAME:-}" in
  X64) arch=amd64 ;;
  ARM64) arch=arm64 ;;
  *) fail "Unsupported runner" "no release binary for the runner architecture \"${RUNNER_ARCH_NAME:-}\"" ;;
esac
name="runtime-action-$os-$arch"
if [ "$os" = windows ]; then
  name="$name.exe"
fi
want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$here/SHA256SUMS")
if [ -z "$want" ]; then
  fail "No release binary" "binary/SHA256SUMS has no checksum for $name"
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1 # macOS
  fi
}

cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/runtime-action/$version/$os-$arch"
bin="$cache/$name"
if [ -f "$bin" ] && [ "$(sha256 "$bin")" = "$want" ]; then
  echo "runtime-action $version ($os/$arch) from the tool cache"
else
  base="${RUNTIME_ACTION_DOWNLOAD_URL:-${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_ACTION_REPOSITORY:-dlthub/runtime-action}/releases/download}"
  mkdir -p "$cache"
  tmp="$cache/.download.$$"
  trap 'rm -f "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp" "$base/$version/$name" || fail "Download failed" "could not download $base/$version/$name"
  got=$(sha256 "$tmp")
  if [ "$got" != "$want" ]; then
    fail "Checksum mismatch" "$name from $base has sha256 $got, binary/SHA256SUMS says $want: not run"
  fi
  chmod 755 "$tmp"
  mv -f "$tmp" "$bin"
  echo "runtime-action $version ($os/$arch) downloaded from $base, checksum verified"
fi
echo "path=$bin" >>"$GITHUB_OUTPUT"
