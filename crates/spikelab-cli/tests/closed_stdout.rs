//! A closed standard output (`spikelab run model.toml | head -1`) must not lose the
//! run's results: the output directory is complete before anything is printed.

use std::process::{Command, Stdio};

#[test]
fn run_with_a_closed_stdout_keeps_its_results() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("spikelab-closed-stdout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .arg("run")
        .arg(root.join("examples/vogels_abbott_cuba.toml"))
        .args([
            "--duration-ms",
            "50",
            "--threads",
            "1",
            "--no-plot",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spikelab");
    // Close the reading end at once, as `head` does after its line.
    drop(child.stdout.take());
    let status = child.wait().expect("wait for spikelab");
    assert!(
        out.join("summary.json").is_file(),
        "no summary.json after a closed stdout (exit {status})"
    );
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"populations\""), "{summary}");
    std::fs::remove_dir_all(&out).unwrap();
}
