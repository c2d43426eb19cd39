# Sourced by the clean-environment checks: make_clean_env VENV REQUIREMENT... builds a fresh virtual
# environment at VENV holding torch and the given requirements, and nothing from the checkout.
# With uv (the dev extra installs it into .venv) the environment is linked from uv's cache in seconds;
# without it, pip does the same in a minute or two. torch is pinned as in scripts/setup.sh
# (ITFT_TORCH overrides it); PIP_FIND_LINKS, where a machine keeps wheels on disk, is passed to uv too,
# since uv reads no pip configuration.
make_clean_env() {
  local venv=$1; shift
  local uv
  uv=$(command -v .venv/bin/uv || command -v uv || true)
  if [ -n "$uv" ]; then
    [ -x "$venv/bin/python" ] || "$uv" venv -q --seed --python "${PYTHON:-python3}" "$venv"
    "$uv" pip install -q --python "$venv/bin/python" ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} \
      "${ITFT_TORCH:-torch==2.13.0}" "$@"
    "$uv" pip install -q --python "$venv/bin/python" --reinstall --no-deps "$1"  # a rerun gets this build, same version or not
  else
    [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install -q "${ITFT_TORCH:-torch==2.13.0}"
    "$venv/bin/python" -m pip install -q "$@"
    "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$1"
  fi
}
