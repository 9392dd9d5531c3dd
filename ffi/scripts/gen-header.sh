#!/usr/bin/env bash
# Regenerates ffi/include/mproc.h from ffi/src with cbindgen (the library,
# a dev-dependency: no cbindgen binary needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MPROC_FFI_BLESS=1 cargo test -q -p mproc-ffi --test header
echo "wrote ffi/include/mproc.h"
