//! `spikelab run` says what it is about to do before it starts (network size,
//! threads, memory) and, when stderr is not a terminal, prints progress lines (here
//! the final one); `--quiet` prints none of it.

use std::process::Command;

fn run(extra: &[&str]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!(
        "spikelab-progress-{}-{}",
        std::process::id(),
        extra.len()
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .arg("run")
        .arg(root.join("examples/vogels_abbott_cuba.toml"))
        .args([
            "--duration-ms",
            "100",
            "--threads",
            "1",
            "--no-plot",
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .output()
        .expect("run spikelab");
    assert!(o.status.success());
    std::fs::remove_dir_all(&out).unwrap();
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_header_comes_first_and_progress_lines_follow() {
    let stderr = run(&[]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].contains("4000 neurons")
            && lines[0].contains("thread")
            && lines[0].contains("steps of 0.1 ms"),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("progress: 100%") && l.contains("ETA")),
        "{stderr}"
    );
    assert_eq!(run(&["--quiet"]), "");
}
