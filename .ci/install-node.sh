#!/usr/bin/env bash
# Node.js 24 (the LTS Portico supports) from the npm registry into PREFIX (default /opt/node-24):
# bin/node, bin/npm, bin/npx and include/node, the headers native addons are built against.
# For machines whose Node is older and that reach the npm registry but not nodejs.org: the registry
# carries Node's own release binaries as the package node-linux-<arch> (bin/node, include/node, no npm),
# and npm itself as the package npm (11, the major Node 24 ships). Both come through `npm pack`, which
# checks each tarball against the registry's integrity hash; any npm fetches them (Debian 12: apt-get
# install npm). Idempotent: a PREFIX that already holds Node 24 with npm and headers is left as it is.
# Usage: bash .ci/install-node.sh [PREFIX] && . PREFIX/env
set -euo pipefail
major=24
npm_major=11
prefix=${1:-/opt/node-$major}

if [ -x "$prefix/bin/node" ] && [ -x "$prefix/bin/npm" ] && [ -f "$prefix/include/node/node_api.h" ] && [ -f "$prefix/env" ] &&
  [ "$("$prefix/bin/node" -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  exit 0
fi
command -v npm >/dev/null || {
  echo "install-node: needs npm to fetch Node $major from the npm registry (Debian: apt-get install npm)" >&2
  exit 1
}
case "$(uname -m)" in
x86_64) arch=x64 ;;
aarch64) arch=arm64 ;;
*)
  echo "install-node: no Node binary package for $(uname -m)" >&2
  exit 1
  ;;
esac

# The newest release of a major line: npm lists every version of the package.
newest() { npm view "$1" versions --json | tr -d ' \n[]"' | tr , '\n' | grep -E "^$2\.[0-9]+\.[0-9]+$" | sort -V | tail -n 1; }
node_version=$(newest "node-linux-$arch" "$major")
npm_version=$(newest npm "$npm_major")
[ -n "$node_version" ] && [ -n "$npm_version" ] || {
  echo "install-node: no node-linux-$arch $major.x or npm $npm_major.x on the registry" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-linux-$arch@$node_version" "npm@$npm_version" >/dev/null)

# Unpacked beside PREFIX and moved into place once complete, so a failed run never leaves half a Node.
stage="$prefix.partial"
rm -rf "$stage"
mkdir -p "$stage/lib/node_modules/npm"
tar -xzf "$work/node-linux-$arch-$node_version.tgz" -C "$stage" --strip-components=1 package/bin package/include package/LICENSE
tar -xzf "$work/npm-$npm_version.tgz" -C "$stage/lib/node_modules/npm" --strip-components=1
# The layout of Node's own release tarballs: npm finds its global prefix (and etc/npmrc) from bin/node.
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/bin/npx"
# Sourced by .ci/run and by a shell profile: this Node first in PATH, and native addons built against
# these headers (node-gyp would download them from nodejs.org otherwise). node-gyp reads its options from
# npm_package_config_node_gyp_*, which take precedence over npm_config_* (npm 11 warns about an unknown
# "nodedir" in its own config: "will stop working in the next major version").
cat >"$stage/env" <<ENV
export PATH="$prefix/bin:\$PATH"
export npm_package_config_node_gyp_nodedir="$prefix"
ENV
[ "$("$stage/bin/node" --version)" = "v$node_version" ]
rm -rf "$prefix"
mv "$stage" "$prefix"
echo "install-node: Node $node_version and npm $npm_version in $prefix"
