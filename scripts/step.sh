#!/usr/bin/env bash
# step.sh NAME LABEL WORD COMMAND [ARG...]: one step of `make run` / `make test`, told in one line,
#   "  LABEL ........ WORD (1.2 s)".
# The command's whole output (stdout and stderr) goes to $FLOE_DATA_DIR/logs/setup/NAME.log;
# when it fails the line says so, the log's path and its last 20 lines follow, and step.sh exits
# with the command's status. A command may say better than WORD what it did ("installed",
# "built") by writing lines to the file $FLOE_STEP_OUTCOME; they are shown joined by ", ".
# Plain bash, no Python: the venv step runs before any venv exists.
set -uo pipefail

if (($# < 4)); then
  echo "usage: step.sh NAME LABEL WORD COMMAND [ARG...]" >&2
  exit 2
fi
name=$1 label=$2 word=$3
shift 3

log_dir="${FLOE_DATA_DIR:-$(pwd)/.floe}/logs/setup"
mkdir -p "$log_dir" || exit 1
log="$log_dir/$name.log"
FLOE_STEP_OUTCOME=$(mktemp) || exit 1
export FLOE_STEP_OUTCOME
trap 'rm -f "$FLOE_STEP_OUTCOME"' EXIT

dots=".............................."
printf '  %s %s ' "$label" "${dots:${#label}}"

# Microseconds since the epoch: bash's own clock, else date's whole seconds.
now_us() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    echo "${EPOCHREALTIME/[.,]/}"
  else
    echo "$(($(date +%s) * 1000000))"
  fi
}

started=$(now_us)
printf '$ %s\n# started %s in %s\n' "$*" "$(date '+%F %T')" "$(pwd)" >"$log"
# No stdin: a step that would wait for an answer fails instead of waiting, unseen.
"$@" >>"$log" 2>&1 </dev/null
status=$?
tenths=$((($(now_us) - started) / 100000))
if ((tenths < 100)); then
  took="$((tenths / 10)).$((tenths % 10)) s"
else
  took="$((tenths / 10)) s"
fi

mapfile -t said <"$FLOE_STEP_OUTCOME"
printf -v joined '%s, ' "${said[@]}"
joined=${joined%, }
if ((status == 0)); then
  echo "${joined:-$word} ($took)"
  exit 0
fi
echo "failed ($took)"
{
  echo "    exit status $status; the whole output is in $log, its last 20 lines:"
  tail -n 20 "$log" | sed 's/^/    | /'
} >&2
exit "$status"
