#!/bin/sh
# Screenshots an audit HTML report in headless Chromium, to look at the page as a browser draws it.
#   scripts/screenshot-report.sh [report.html] [out.png]
# Without a report, renders a sample one (scripts/sample-report.ts, made-up facts). Needs chromium
# (Debian: apt-get install chromium); CI does not install it, so this is run by hand.
set -eu
report=${1:-}
out=${2:-report.png}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "screenshot-report: no chromium found (apt-get install chromium)" >&2
  exit 2
fi
if [ -z "$report" ]; then
  report=$(mktemp --suffix=.html)
  trap 'rm -f "$report"' EXIT
  npx tsx "$(dirname "$0")/sample-report.ts" > "$report"
fi
# --no-sandbox: root in a container has no user namespaces; the page is local and runs no script.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1400 \
  --screenshot="$(realpath -m "$out")" "file://$(realpath "$report")" 2>/dev/null
echo "screenshot-report: wrote $out"
