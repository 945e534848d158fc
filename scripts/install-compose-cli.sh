#!/usr/bin/env bash
# Builds the docker compose v2 CLI plugin from its Go module when `docker compose` is
# missing, so tests/test_docker_stack.py can run `docker compose config` on machines
# without Docker Desktop (CI here). Only the client: no engine is needed for `config`.
# `go install pkg@version` refuses this module (its go.mod has exclude lines), hence
# download + build. Goes to ~/.docker/cli-plugins, outside the repository.
set -euo pipefail
VERSION=v2.40.3
if docker compose version >/dev/null 2>&1; then exit 0; fi
command -v go >/dev/null || { echo "install-compose-cli: go not found; docker compose checks will be skipped" >&2; exit 0; }
src=$(mktemp -d)
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
echo "building docker compose $VERSION (once, about 2 minutes)"
go mod download -json "github.com/docker/compose/v2@$VERSION" >/dev/null
cp -r "$(go env GOMODCACHE)/github.com/docker/compose/v2@$VERSION/." "$src/"
chmod -R u+w "$src"
mkdir -p "$HOME/.docker/cli-plugins"
(cd "$src" && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$VERSION" \
    -o "$HOME/.docker/cli-plugins/docker-compose" ./cmd)
