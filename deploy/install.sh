#!/bin/sh
# Install files-gateway from a source tree into a self-contained virtual environment.
#
# This is the one place that says how the project is installed (issue #7): the Dockerfile's
# build stage runs it, and tests/test_container_contract.py runs that same Dockerfile line, so
# the image and the tests cannot drift apart.
#
# usage: install.sh SOURCE_DIR PREFIX
#   SOURCE_DIR  the project tree, pyproject.toml at its top
#   PREFIX      where the virtual environment goes; the image uses /opt/files-gateway
# PYTHON names the interpreter (default python3). The venv links to it, so it must be at the
# same path when the gateway runs: the image's build and final stages share one base image.
set -eu

src=$1
prefix=$2
python=${PYTHON:-python3}

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

# A wheel first, so the venv holds exactly what a release ships: no source tree, no egg-link.
"$python" -m pip wheel --no-deps --wheel-dir "$wheels" "$src"

# No pip, setuptools or wheel inside the venv: the runtime holds nothing that builds or installs.
# pip runs from the build interpreter against the venv (pip >= 22.3), and compiles bytecode now,
# since a read-only root filesystem lets nothing write __pycache__ later.
"$python" -m venv --without-pip "$prefix"
"$python" -m pip --python "$prefix/bin/python" install --compile "$wheels"/files_gateway-*.whl

# Readable and runnable by any uid, writable by none but its owner (root).
chmod -R a+rX,go-w "$prefix"

# Fail the build, not the first start, when the install is incomplete.
"$prefix/bin/python" -c 'import gateway.cli'
"$prefix/bin/files-gateway" --help >/dev/null
