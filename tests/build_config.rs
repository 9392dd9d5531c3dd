//! build.rs: the `MPROC_*` capacities parse, default, and refuse nonsense
//! with a message naming the variable and the accepted range.

#[allow(dead_code)] // build.rs's `main` is not called here
#[path = "../build.rs"]
mod build_script;

use build_script::{SETTINGS, parse_setting};

fn setting(var: &str) -> &'static build_script::Setting {
    SETTINGS
        .iter()
        .find(|s| s.var == var)
        .expect("setting exists")
}

#[test]
fn unset_means_the_default() {
    let s = setting("MPROC_MAX_CHILDREN");
    assert_eq!(parse_setting(s, None), Ok(s.default));
    // The crate was built with these (CI sets none).
    assert_eq!(mproc::config::MAX_CHILDREN, 256);
    assert_eq!(mproc::config::NAME_LEN, 32);
}

#[test]
fn valid_values_are_taken() {
    let s = setting("MPROC_MAX_CHILDREN");
    assert_eq!(parse_setting(s, Some("1024")), Ok(1024));
    assert_eq!(parse_setting(s, Some(" 4_096 ")), Ok(4096));
    assert_eq!(parse_setting(s, Some("1")), Ok(1));
}

#[test]
fn nonsense_is_refused_with_the_variable_and_range() {
    let s = setting("MPROC_MAX_CHILDREN");
    for bad in ["abc", "-3", "", "1.5", "0", "65537", "99999999999"] {
        let err = parse_setting(s, Some(bad)).unwrap_err();
        assert!(err.contains("MPROC_MAX_CHILDREN"), "{err}");
        assert!(err.contains("from 1 to 65536"), "{err}");
    }
    let n = setting("MPROC_NAME_LEN");
    assert!(
        parse_setting(n, Some("7"))
            .unwrap_err()
            .contains("MPROC_NAME_LEN=7 is out of range")
    );
}
