#!/usr/bin/env bash
# Job status for Snakemake's cluster-generic executor, for jobs started by
# submit.sh: prints running, success or failed.
set -euo pipefail

spool="$1"
id="$2"
if [[ -f "$spool/$id.exit" ]]; then
    [[ "$(cat "$spool/$id.exit")" == 0 ]] && echo success || echo failed
elif kill -0 "$(cat "$spool/$id.pid")" 2> /dev/null; then
    echo running
elif [[ -f "$spool/$id.exit" ]]; then  # ended between the two checks
    [[ "$(cat "$spool/$id.exit")" == 0 ]] && echo success || echo failed
else
    echo failed  # gone without an exit status: killed
fi
