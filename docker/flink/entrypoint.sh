#!/usr/bin/env bash
# The closeloop Flink image's entrypoint: write conf/config.yaml from
# docker/flink/config.yaml and closeloop's settings, then start the JobManager
# or TaskManager in the foreground, or run the given command (`flink run …`).
set -euo pipefail

python /opt/closeloop/docker/flink/render_config.py

case "${1:-}" in
  jobmanager) shift; exec /opt/flink/bin/jobmanager.sh start-foreground "$@" ;;
  taskmanager) shift; exec /opt/flink/bin/taskmanager.sh start-foreground "$@" ;;
  *) exec "$@" ;;
esac
