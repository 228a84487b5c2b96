//! The independent implementation of the API (tests/independent_api.py) is
//! itself tested against the API contract by tests/independent_api_test.py
//! (Python's unittest, standard library only). This runs those tests under
//! `cargo test`, so CI sees a fake that drifted from the contract before it
//! misleads the tests that rely on it.

use std::process::Command;

#[test]
fn the_independent_api_keeps_the_api_contract() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent_api_test.py");
    let out = Command::new("python3")
        .arg(script)
        .output()
        .expect("python3 runs the independent API's tests (it is on every machine of this kind)");
    assert!(
        out.status.success(),
        "tests/independent_api_test.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
