#!/usr/bin/env bash
# Offer page latency and weight (CONTRACT §13), over real HTTP against a running server:
#   examples/offer_page_latency.sh http://127.0.0.1:8080/jobs/demo/<offer_id> [requests]
# Sends the requests one after the other (no cache: no If-None-Match) and prints p50 / p90 / max of curl's
# total time, the HTML's size, and the size of everything one page load fetches (HTML + stylesheets + logo).
set -euo pipefail
url="${1:?usage: $0 OFFER_PAGE_URL [requests]}"
requests="${2:-500}"
times=$(for _ in $(seq "$requests"); do curl -s -o /dev/null -w '%{time_total}\n' "$url"; done | sort -n)
pick() { awk -v q="$1" '{ v[NR] = $1 } END { i = int(NR * q); if (i < 1) i = 1; printf "%.2f ms", v[i] * 1000 }'; }
html=$(curl -s "$url")
origin=$(printf '%s' "$url" | sed -E 's#^(https?://[^/]+).*#\1#')
assets=0
for path in $(printf '%s' "$html" | grep -oE '(href|src)="/jobs/_assets/[^"]+"|src="/jobs/[^"]+/logo[^"]*"' | sed -E 's/^[a-z]+="//; s/"$//'); do
    assets=$((assets + $(curl -s "$origin$path" | wc -c)))
done
echo "requests: $requests"
echo "p50: $(printf '%s\n' "$times" | pick 0.5)  p90: $(printf '%s\n' "$times" | pick 0.9)  max: $(printf '%s\n' "$times" | pick 1.0)"
echo "html bytes: $(printf '%s' "$html" | wc -c)  page load bytes (html + same-origin assets): $(( $(printf '%s' "$html" | wc -c) + assets ))"
