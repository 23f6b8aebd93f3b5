#!/bin/sh
# wget2 (or wget) peer for silk's benchmark: fetch + link-follow reference,
# no extraction.
#
#   bench/peers/wget.sh START_URL CONCURRENCY URLS_OUT [WORKDIR]
#
# Recursive crawl from START_URL, unlimited depth, same host only (wget's
# default: no host spanning), robots.txt obeyed (default on), no delay,
# `--no-cache`, images and CSS rejected by URL regex so that only pages are
# fetched. wget2 uses CONCURRENCY threads (--max-threads); plain wget (used
# only when wget2 is missing) is single-threaded and ignores CONCURRENCY.
# Files are written under WORKDIR (default: a temp dir, removed afterwards)
# because wget needs them to follow links; URLS_OUT gets one fetched page
# URL path a line, for tests/lib/check.py --urls.
set -eu
start=$1; conc=${2:-16}; urls_out=$3; work=${4:-}
own_work=0
if [ -z "$work" ]; then work=$(mktemp -d /tmp/silk-wget.XXXXXX); own_work=1; fi
mkdir -p "$work"
reject='/(img|static|media)/|\.(jpe?g|png|gif|css|js)$'
if command -v wget2 >/dev/null 2>&1; then
  # timeout: a bounded load even if something goes wrong
  timeout 1800 wget2 -r -l inf -nH -P "$work" --max-threads="$conc" --no-cache \
    --filter-urls --reject-regex="$reject" --robots=on --progress=none -q \
    --no-hsts --no-http2 --compression=identity --tcp-fastopen=off "$start" || rc=$?
else
  timeout 1800 wget -r -l inf -nH -P "$work" --no-cache --reject-regex="$reject" \
    -e robots=on -q "$start" || rc=$?
fi
# wget exits 8 when some response was an error (e.g. a 404 link); keep going
[ "${rc:-0}" -le 8 ] || { echo "wget.sh: wget exited ${rc}" >&2; exit "$rc"; }
(cd "$work" && find . -type f -name '*.html' | sed 's|^\.||') > "$urls_out"
[ "$own_work" = 1 ] && rm -rf "$work"
exit 0
