#!/usr/bin/env bash
# Set up a virtualenv in .venv with everything qa needs (and, with --test, the test tools).
# torch goes first and pinned: here, torch==2.13.0 is a CPU build on local disk, while any
# other torch spec pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
extras=""
case "${1:-}" in
  --test) extras="[test,llm]" ;;
  --bench) extras="[test,llm,bench,train]" ;;
esac
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".${extras}"
