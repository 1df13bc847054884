//! A network larger than the process may allocate under `ulimit -v` is refused with
//! a clear error before anything is allocated (not an abort in the middle of the
//! build).

use std::process::Command;

#[test]
fn a_network_over_the_address_space_limit_is_refused_cleanly() {
    let dir = std::env::temp_dir().join(format!("spikelab-ulimit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("big.toml");
    // 20,000 × 20,000 all-to-all: about 8 GB of synapses by the estimate.
    std::fs::write(
        &model,
        r#"
[simulation]
dt_ms = 0.1
duration_ms = 10.0
[[population]]
name = "a"
size = 20000
[population.neuron]
model = "lif"
[[population.receptor]]
name = "e"
type = "current"
tau_ms = 5.0
[[projection]]
source = "a"
target = "a"
receptor = "e"
connectivity = { rule = "all_to_all" }
weight = 0.1
"#,
    )
    .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$0\" run \"$1\" --no-plot --quiet --threads 1 --out \"$2\"")
        .arg(env!("CARGO_BIN_EXE_spikelab"))
        .arg(&model)
        .arg(dir.join("out"))
        .output()
        .expect("run sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit {:?}: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("MiB") && stderr.contains("ulimit -v"),
        "{stderr}"
    );
    assert!(!dir.join("out").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
