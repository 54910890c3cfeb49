#!/bin/sh
# podlock's in-image installer (written into the build context by podlock; do not edit).
#   install.sh venv PYTHON        create /opt/venv (no pip in it) and check the Python version
#   install.sh layer DIR          install DIR/requirements.txt from DIR/wheels: hashes
#                                 enforced, no index, no dependency resolution; with
#                                 /opt/podlock/uv (podlock's verified uv) when present,
#                                 else with the base image's pip; then files several
#                                 wheels ship are merged as pip leaves them (merge_shared.py)
set -eu
VENV=/opt/venv

pip_wheel() {
    for w in /usr/share/python-wheels/pip-*.whl \
        /usr/local/lib/python3*/ensurepip/_bundled/pip-*.whl; do
        if [ -f "$w" ]; then echo "$w"; return 0; fi
    done
    echo "podlock: the base image has no pip wheel for ensurepip (install python3-venv in it)" >&2
    exit 3
}

case "$1" in
venv)
    python3 -m venv --without-pip "$VENV"
    got=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$got" != "$2" ]; then
        echo "podlock: the base image has Python $got but the lock is for Python $2" >&2
        exit 3
    fi
    ;;
layer)
    if [ -x /opt/podlock/uv ] && /opt/podlock/uv --version >/dev/null 2>&1; then
        /opt/podlock/uv pip install --quiet --python "$VENV/bin/python" --offline --no-index \
            --no-deps --require-hashes --no-cache --compile-bytecode --link-mode copy \
            --find-links "$2/wheels" -r "$2/requirements.txt"
        "$VENV/bin/python" /opt/podlock/merge_shared.py "$("$VENV/bin/python" -c \
            'import sysconfig; print(sysconfig.get_path("purelib"))')" "$2/wheels"
        exit 0
    fi
    "$VENV/bin/python" "$(pip_wheel)/pip" install --quiet --no-index --no-deps --require-hashes \
        --no-cache-dir --disable-pip-version-check --find-links "$2/wheels" -r "$2/requirements.txt"
    ;;
*)
    echo "podlock: install.sh: unknown step $1" >&2
    exit 2
    ;;
esac
