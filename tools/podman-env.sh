# shellcheck shell=bash
# Usage: source tools/podman-env.sh
# Points podman at the private tools/containers.conf (runc, cgroupfs, ulimits,
# file event logger) without touching /etc. Every script in tools/ sources it.
# Exports:
#   CONTAINERS_CONF  absolute path of tools/containers.conf
#   LM_TOOLS_DIR     absolute path of tools/
#   LM_ROOT          absolute path of the collection root (parent of tools/)
LM_TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
LM_ROOT="$(dirname "$LM_TOOLS_DIR")"
CONTAINERS_CONF="$LM_TOOLS_DIR/containers.conf"
export LM_TOOLS_DIR LM_ROOT CONTAINERS_CONF
