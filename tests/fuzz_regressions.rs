//! Replays every input the fuzzers found (tests/fuzz_regressions/): each must end with exit
//! status 0 or 1 and at most one line on stderr, under a 2 GiB address-space cap and a 20 s
//! limit — never a panic, an abort, a hang or an allocation from a header's claim.

use std::process::Command;

#[test]
fn every_fuzzer_finding_fails_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for input in inputs {
        let out = Command::new("bash")
            .arg("-c")
            .arg("ulimit -v 2097152; exec timeout 20 \"$0\" info \"$1\"")
            .arg(env!("CARGO_BIN_EXE_gradvol"))
            .arg(&input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}: status {:?}: {stderr}",
            input.display(),
            out.status
        );
        assert!(stderr.lines().count() <= 1, "{}: {stderr}", input.display());
    }
}
