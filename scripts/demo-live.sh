#!/usr/bin/env bash
# Live evidence and rollback with a real Prometheus: two versions of a small model are registered
# and promoted; a serving process exposes version 2's live AUC on /metrics; Debian's prometheus
# scrapes it every second; `govern watch` judges @champion from PromQL every 2 s. Then the incoming
# population shifts, the live AUC really drops more than 2 % below version 2's validation AUC,
# and govern rolls @champion back to version 1 and quarantines version 2 (promoting it again is
# denied). Needs `prometheus` on PATH (apt-get install prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${GOVERN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if ! command -v prometheus >/dev/null 2>&1; then
  echo "this demo needs Prometheus: apt-get install prometheus" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/govern" ] || ! "$VENV/bin/python" -c "import mlflow, sklearn, prometheus_client" 2>/dev/null; then
  echo "setting up $VENV (one time) ..." >&2
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[mlflow,ml]' prometheus_client
fi
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

WORK="${GOVERN_DEMO_DIR:-.govern/demo-live}"
rm -rf "$WORK" && mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
unset MLFLOW_REGISTRY_URI  # the registry is the same store (a registry URI from the caller would split them)
export GOVERN_AUDIT_LOG="$WORK/audit.jsonl"
DEMO=examples/live-rollback/demo.py
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
EXPORTER_PORT=$(free_port)
PROM_PORT=$(free_port)
SPEC="$WORK/spec.yaml"
sed "s|http://127.0.0.1:9090|http://127.0.0.1:$PROM_PORT|" examples/live-rollback/spec.yaml > "$SPEC"
started=$SECONDS
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# A gate exits 1 when it denies or rolls back: that is an answer, not a failure of this script.
gate() { govern gate "$@" --no-model || { code=$?; [ "$code" -eq 1 ] || exit "$code"; }; }

step "train, register and promote version 1, then version 2"
gate register "$SPEC" --run-id "$(python "$DEMO" train --seed 1 --C 0.05 2>/dev/null)"
gate promote "$SPEC" --version 1
gate register "$SPEC" --run-id "$(python "$DEMO" train --seed 2 --C 1.0 2>/dev/null)"
gate promote "$SPEC" --version 2

step "serve version 2 (live AUC on /metrics) and let Prometheus scrape it every second"
python "$DEMO" serve --port "$EXPORTER_PORT" --version 2 --degrade-flag "$WORK/degrade" 2>"$WORK/serve.log" &
PIDS+=($!)
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: live-demo
    static_configs: [{targets: ['127.0.0.1:$EXPORTER_PORT']}]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn 2>"$WORK/prometheus.log" &
PIDS+=($!)
QUERY="http://127.0.0.1:$PROM_PORT/api/v1/query?query=model_live_labelled%3E%3D5000"
for _ in $(seq 1 180); do  # a loaded machine starts Prometheus slowly
  curl -fsS "$QUERY" 2>/dev/null | grep -q '"value"' && break
  sleep 1
done
curl -fsS "$QUERY" | grep -q '"value"' || { echo "Prometheus never scraped 5,000 labelled predictions" >&2; exit 3; }

step "govern watch: judge @champion on PromQL every 2 s"
govern watch "$SPEC" --every 2 >"$WORK/watch.log" 2>&1 &
WATCH=$!
PIDS+=($WATCH)
for _ in $(seq 1 120); do
  grep -q "round 1:" "$WORK/watch.log" && break
  sleep 1
done
cat "$WORK/watch.log"
grep -q "round 1: kept" "$WORK/watch.log" || { echo "version 2 was not judged healthy first" >&2; exit 3; }

step "the incoming population shifts: version 2's live AUC drops for real"
touch "$WORK/degrade"
for _ in $(seq 1 60); do
  grep -q "rolled back" "$WORK/watch.log" && break
  sleep 1
done
kill -TERM "$WATCH"
wait "$WATCH" || { echo "govern watch did not stop cleanly" >&2; exit 3; }
cat "$WORK/watch.log"
grep -q "rolled back" "$WORK/watch.log" || { echo "no rollback happened" >&2; exit 3; }

step "version 2 is quarantined: promoting it again is denied"
gate promote "$SPEC" --version 2

step "the audit log"
govern audit show
govern audit verify
echo "done in $((SECONDS - started)) s"
