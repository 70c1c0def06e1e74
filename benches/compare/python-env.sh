# Sourced by the comparison scripts: a Python venv under target/ with ruamel.yaml.
bench_python() {
  local venv="$ROOT/target/bench-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import ruamel.yaml' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q 'ruamel.yaml>=0.18' >&2
  fi
  echo "$venv/bin/python"
}
