//! `outlast plan`: the example layout survives any one provider; a lopsided one does not.

use std::process::Command;

#[test]
fn the_example_layout_survives_any_one_provider_and_a_lopsided_one_is_flagged() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cluster.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_outlast")).args(["plan", example]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("lose aws + gcp") && stdout.contains("STOPS"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lopsided.toml");
    let peer = |id, provider| {
        format!("[[peers]]\nid = {id}\nraft_addr = \"a\"\nclient_addr = \"b\"\nprovider = \"{provider}\"\nregion = \"r\"\nzone = \"z{id}\"\n")
    };
    std::fs::write(&path, peer(1, "aws") + &peer(2, "aws") + &peer(3, "gcp")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_outlast")).arg("plan").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("UNSAFE — losing aws"));
}
