#!/bin/sh
# Container entry point: the app and its feed watcher in one container (serve --watch,
# headless). Settings by environment:
#   THREAT_PICTURE_CONFIG  config folder (default /config)
#   THREAT_PICTURE_STORE   SQLAlchemy URL of the store (default: settings.toml, else SQLite in
#                          $THREAT_PICTURE_DATA or ./data)
#   THREAT_PICTURE_ADDRESS address to bind (default 0.0.0.0: reachable from outside the
#                          container; put TLS and the network's access control in front)
#   THREAT_PICTURE_PORT    port (default 8501)
# Any arguments are passed on to `threat-picture serve` (e.g. --secrets /run/secrets/auth.toml).
set -eu
: "${THREAT_PICTURE_CONFIG:=/config}"
: "${THREAT_PICTURE_ADDRESS:=0.0.0.0}"
: "${THREAT_PICTURE_PORT:=8501}"
export THREAT_PICTURE_CONFIG
# exec: the server is the container's main process and gets its SIGTERM; the watcher, its
# child, stops with it.
exec threat-picture serve --watch --headless \
    --address "$THREAT_PICTURE_ADDRESS" --port "$THREAT_PICTURE_PORT" "$@"
