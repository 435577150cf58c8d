#!/usr/bin/env bash
# A stand-in for a cluster's submit command (sbatch, qsub) on one machine, for
# Snakemake's cluster-generic executor:
#
#   --cluster-generic-submit-cmd "tests/cluster/submit.sh SPOOL"
#   --cluster-generic-status-cmd "tests/cluster/status.sh SPOOL"
#
# Snakemake appends the job script. It is started as a separate background
# process in its own session (as a batch system would, detached from
# Snakemake), a line is logged to SPOOL/submitted.tsv, and the job id is printed.
# SPOOL/<id>.exit receives the job script's exit status when it ends.
set -euo pipefail

spool="$1"
jobscript="$2"
mkdir -p "$spool"
id="$(basename "$(mktemp "$spool/job.XXXXXXXX")")"
cp "$jobscript" "$spool/$id.sh"   # Snakemake deletes the job script once the job ends
detach=()
command -v setsid > /dev/null && detach=(setsid)   # own session, as on a batch system
${detach[@]+"${detach[@]}"} bash -c 'bash "$1"; status=$?; echo "$status" > "$2.tmp"; mv "$2.tmp" "$2"' \
    job "$spool/$id.sh" "$spool/$id.exit" > "$spool/$id.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$spool/$id.pid"
printf '%s\t%s\t%s\n' "$id" "$pid" "$(date +%s.%N)" >> "$spool/submitted.tsv"
echo "$id"
