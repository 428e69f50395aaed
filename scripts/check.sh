#!/usr/bin/env bash
# npm run check: everything that must hold before a commit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin

echo "· typecheck"
"$bin/tsc" --noEmit -p .

echo "· lint"
"$bin/eslint" --max-warnings 0 .

echo "· buf lint"
"$bin/buf" lint

echo "· buf breaking (against main)"
if git rev-parse --verify --quiet main:proto >/dev/null; then
  "$bin/buf" breaking --against '.git#branch=main,subdir=proto'
else
  echo "  main has no proto/ yet: nothing to compare against"
fi

echo "· gen/ is what buf generate produces"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
"$bin/buf" generate --output "$fresh"
if ! diff -r "$fresh/gen" gen >/dev/null; then
  diff -r "$fresh/gen" gen | head -20 || true
  echo "gen/ is stale: run npm run generate and commit the result" >&2
  exit 1
fi
echo "check passed"
