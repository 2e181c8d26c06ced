//! The engine's determinism contract, checked on its source: no clocks, randomness, I/O, floats
//! or async anywhere in `src/`.

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "Instant",
    "SystemTime",
    "rand::",
    "thread_rng",
    "getrandom",
    "RandomState",
    "f32",
    "f64",
    "std::fs",
    "std::net",
    "std::io",
    "std::thread",
    "std::env",
    "async ",
    "await",
    "tokio",
    "HashSet",
];

#[test]
fn engine_source_has_no_clock_randomness_io_floats_or_async() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for word in FORBIDDEN {
                assert!(!code.contains(word), "{}:{}: `{word}` breaks determinism: {line}", path.display(), number + 1);
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "the scan found the engine's source files");
}

#[test]
fn hash_maps_use_the_deterministic_hasher() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.contains("HashMap<")) {
            let keyed = line.contains("IdBuildHasher") || line.contains("ClientIdBuildHasher");
            assert!(keyed, "{}: a HashMap without a chosen hasher: {line}", path.display());
        }
    }
}
