//! The checked-in header `include/mproc.h` is what cbindgen makes from the
//! sources now. Stale, it fails and says how to regenerate it:
//! `MPROC_FFI_BLESS=1 cargo test -p mproc-ffi --test header` (or
//! `ffi/scripts/gen-header.sh`) rewrites it.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not read ffi/src")
        .write(&mut generated);
    let path = dir.join("include/mproc.h");
    if std::env::var_os("MPROC_FFI_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("writing ffi/include/mproc.h");
        return;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "ffi/include/mproc.h is stale: it differs from what cbindgen makes from ffi/src. \
         Regenerate it with `MPROC_FFI_BLESS=1 cargo test -p mproc-ffi --test header` \
         (or ffi/scripts/gen-header.sh) and commit it."
    );
}
