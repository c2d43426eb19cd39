# Sourced by the clean-environment checks: make_clean_env VENV REQUIREMENT... builds a fresh virtual
# environment at VENV holding torch and the given requirements (the first one is reinstalled without
# its dependencies, so that a rerun gets this build), and nothing from the checkout.
# With uv (the dev extra installs it into .venv) the environment is linked from uv's cache in seconds;
# without it, or where uv fails, pip does the same in a minute or two. torch is pinned as in
# scripts/setup.sh (ITFT_TORCH overrides it). uv reads no pip configuration, so the machine's pip
# settings that matter here are passed on: PIP_FIND_LINKS (wheels kept on disk) and PIP_CERT (the
# certificate bundle of a machine whose traffic goes through its own authority).
make_clean_env() {
  local venv=$1; shift
  local uv
  uv=$(command -v .venv/bin/uv || command -v uv || true)
  if [ -n "$uv" ] && _uv_env "$uv" "$venv" "$@"; then
    return 0
  fi
  [ -z "$uv" ] || echo "uv could not build $venv; building it with pip"
  "${PYTHON:-python3}" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install -q "${ITFT_TORCH:-torch==2.13.0}"
  "$venv/bin/python" -m pip install -q "$@"
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$1"
}

_uv_env() {
  local uv=$1 venv=$2; shift 2
  local cert=${SSL_CERT_FILE:-${PIP_CERT:-}}
  "$uv" venv -q --allow-existing --python "${PYTHON:-python3}" "$venv" &&
    env ${cert:+SSL_CERT_FILE="$cert"} "$uv" pip install -q --python "$venv/bin/python" ${PIP_FIND_LINKS:+--find-links "$PIP_FIND_LINKS"} \
      "${ITFT_TORCH:-torch==2.13.0}" "$@" &&
    "$uv" pip install -q --python "$venv/bin/python" --reinstall --no-deps "$1"
}
