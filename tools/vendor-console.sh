#!/usr/bin/env bash
# Check (default) or refresh (--update) the console's vendored front-end files
# against the npm registry: npm pack each pinned release, compare its dist file
# with static/vendor/<name>-<version>/ and the recorded SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=integrations/workorders/api/console/static/vendor
PACKAGES=("htmx.org 2.0.11 htmx dist/htmx.min.js LICENSE"
          "echarts 6.1.0 echarts dist/echarts.min.js LICENSE NOTICE")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
status=0
for spec in "${PACKAGES[@]}"; do
  read -r name version dir file extra <<<"$spec"
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null && mkdir -p "$dir" && tar xzf ./*"$version".tgz -C "$dir" && rm ./*.tgz)
  target="$VENDOR/$dir-$version"
  for f in "$file" $extra; do
    src="$work/$dir/package/$f"
    if [ "${1:-}" = --update ]; then mkdir -p "$target"; cp "$src" "$target/"; continue; fi
    cmp -s "$src" "$target/$(basename "$f")" || { echo "differs: $target/$(basename "$f")"; status=1; }
  done
done
if [ "${1:-}" = --update ]; then (cd "$VENDOR" && sha256sum */*.js > SHA256SUMS); fi
(cd "$VENDOR" && sha256sum -c --quiet SHA256SUMS) || status=1
[ $status = 0 ] && echo "vendored files match npm's releases"
exit $status
