#!/bin/bash
# A second worker on the one task queue.sh is still scoring: once AFTER (another task's output) has
# its N cells, scores this task's first N cells from the end into part-OUT.jsonl (a name report.sh
# does not read) with queue.sh's settings (common.sh), while queue.sh goes on forward in OUT.jsonl. When the
# two files hold all N cells between them, it stops both probes and appends the part's rows to
# OUT.jsonl in file order. Session five used it for macro normal, run from this folder:
#   AFTER=micro_jigsaw_192px_source.jsonl KIND=macro TASK=normal SIZE=128 N=200 \
#     LSWAG_BIN=... LSWAG_DATA=... nohup bash helper.sh >> queue.log 2>&1 &
set -u
N=${N:-200}
B=${LSWAG_BIN:-../../../target/debug/lswag-studio}
DATA=${LSWAG_DATA:-../../../../shared/data}
source "$(dirname "$0")/common.sh"
SZ=$DATA/suite_zero/zc_transbench101_$KIND.json
out=${KIND}_${TASK}_${SIZE}px_source
part=part-$out

while [ "$(cells "$AFTER")" -lt "$N" ]; do sleep 30; done
keys=$(mktemp)
task_keys "$KIND" "$TASK" reversed > "$keys"
echo "== $(date -u +%FT%TZ) $part (helper: $out from its end; $(cells "$out.jsonl") cells in $out.jsonl)"
score_cells "$KIND" "$TASK" "$SIZE" "$keys" "$part" &

# Cells of the first N in either file; both probes stop once that is all N.
covered() {
  python3 - "$SZ" "$TASK" "$N" "$out.jsonl" "$part.jsonl" <<'EOF'
import json, sys
sz, task, n, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
want = set(list(json.load(open(sz))[task])[:n])
done = set()
for f in files:
    try:
        for line in open(f):
            row = json.loads(line)
            if "arch" in row:
                done.add(row["arch"])
    except (FileNotFoundError, json.JSONDecodeError):
        pass
print(len(want & done))
EOF
}
while [ "$(covered)" -lt "$N" ]; do sleep 20; done
pkill -f -- "--out $part.jsonl"
pkill -f -- "--out $out.jsonl"
sleep 5
rm -f "$keys" "$out.jsonl.lock" "$part.jsonl.lock"
# The part's rows (those OUT.jsonl lacks), in file order, after OUT.jsonl's own.
python3 - "$SZ" "$TASK" "$out.jsonl" "$part.jsonl" <<'EOF'
import json, sys
sz, task, out, part = sys.argv[1:]
order = {k: i for i, k in enumerate(json.load(open(sz))[task])}
have = {json.loads(l).get("arch") for l in open(out)}
rows = [l if l.endswith("\n") else l + "\n" for l in list(open(part))[1:]]
rows = [l for l in rows if json.loads(l)["arch"] not in have]
rows.sort(key=lambda l: order[json.loads(l)["arch"]])
with open(out, "a") as f:
    f.writelines(rows)
print(f"   helper appended {len(rows)} rows of {part} to {out}")
EOF
echo "   helper done at $(date -u +%FT%TZ): $(cells "$out.jsonl") cells in $out.jsonl"
