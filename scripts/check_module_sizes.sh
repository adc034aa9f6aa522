#!/usr/bin/env bash
# A module of the apps stays under 500 lines; past that it holds two things (docs/architecture.md). Fails
# naming every module that is longer. Migrations are generated and aside.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=500
status=0
while IFS= read -r file; do
  lines=$(wc -l <"$file")
  if [ "$lines" -gt "$limit" ]; then
    echo "$file has $lines lines (at most $limit): split it along what it holds." >&2
    status=1
  fi
done < <(find portal credentials approvals -name '*.py' -not -path '*/migrations/*' | sort)
exit "$status"
