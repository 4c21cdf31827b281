#!/usr/bin/env bash
# Usage: check_public_headers.sh CXX REPO HEADER...
# Preprocesses each public header alone with only REPO/include on the
# engram side of the include path and fails if it pulls in a file of the
# repository outside include/, or an implementation dependency
# (moodycamel's concurrentqueue). Lists the internal/ headers each one
# needs (those a template of it truly uses).
set -euo pipefail
cxx="$1"; repo="$2"; shift 2
status=0
for header in "$@"; do
  deps="$(echo "#include \"$header\"" | "$cxx" -std=c++20 -x c++ -E -M -I "$repo/include" - | tr ' \\' '\n\n' | grep -v '^$' | grep -v ':$')"
  bad="$(echo "$deps" | grep -E "^$repo/" | grep -v "^$repo/include/" || true)"
  moody="$(echo "$deps" | grep -i concurrentqueue || true)"
  if [[ -n "$bad" || -n "$moody" ]]; then
    echo "FAIL $header reaches:"; echo "$bad" "$moody" | sed 's/^/    /'
    status=1
  fi
  internal="$(echo "$deps" | { grep "^$repo/include/.*/internal/" || true; } | sed "s|^$repo/include/||" | tr '\n' ' ')"
  echo "ok   $header${internal:+  (internal: $internal)}"
done
exit $status
