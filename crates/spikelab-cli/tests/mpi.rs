//! `mpirun -np N spikelab run` (feature `mpi`, a system Open MPI on localhost):
//! the output files are byte for byte those of one process for 1, 2 and 3 ranks and
//! several threads per rank, `summary.json` reports the exchange time per rank, and
//! an error on any rank (a bad model, an output directory that is not ours, a model
//! that does not fit) is printed once and stops every rank.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spikelab-mpi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `mpirun -np ranks spikelab <args>` (as root too, more ranks than cores allowed).
fn mpirun(ranks: usize, args: &[&str]) -> Output {
    Command::new("mpirun")
        .args(["--oversubscribe", "-np", &ranks.to_string()])
        .arg(env!("CARGO_BIN_EXE_spikelab"))
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("mpirun (Open MPI's openmpi-bin) must be installed for the mpi feature's tests")
}

fn single(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikelab"))
        .args(args)
        .output()
        .unwrap()
}

/// Every file of `dir` but the summary, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "summary.json")
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `model` with `extra` arguments in one process and on every (ranks, threads)
/// split and compares the files.
fn same_files(name: &str, model: &str, extra: &[&str], splits: &[(usize, usize)]) {
    let model = root().join(model);
    let model = model.to_str().unwrap();
    let base = scratch(name);
    let reference_dir = base.join("single");
    let mut args = vec!["run", model, "--no-plot", "--quiet", "--threads", "1"];
    args.extend_from_slice(extra);
    let mut with_out = args.clone();
    with_out.extend(["--out", reference_dir.to_str().unwrap()]);
    let o = single(&with_out);
    assert!(o.status.success(), "{}", text(&o));
    let reference = files(&reference_dir);
    assert!(reference.len() >= 2, "{reference_dir:?} has too few files");
    for &(ranks, threads) in splits {
        let dir = base.join(format!("{ranks}x{threads}"));
        let threads_s = threads.to_string();
        let mut a: Vec<&str> = vec!["run", model, "--no-plot", "--quiet"];
        a.extend_from_slice(extra);
        a.extend(["--threads", &threads_s, "--out", dir.to_str().unwrap()]);
        let o = mpirun(ranks, &a);
        assert!(o.status.success(), "{ranks} ranks: {}", text(&o));
        assert!(
            files(&dir) == reference,
            "{ranks} ranks × {threads} threads: the files differ from one process"
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        if ranks > 1 {
            let d = &summary["distributed"];
            assert_eq!(d["ranks"], ranks, "{summary}");
            assert_eq!(d["threads_per_rank"], threads, "{summary}");
            assert_eq!(d["exchange_s"].as_array().unwrap().len(), ranks);
            assert!(d["exchange_s"][0].as_f64().unwrap() > 0.0, "{summary}");
        }
    }
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn coba_files_are_those_of_one_process_on_1_2_3_ranks() {
    // Spike, state and rate monitors.
    same_files(
        "coba",
        "examples/vogels_abbott_coba.toml",
        &["--duration-ms", "150"],
        &[(1, 1), (2, 1), (3, 1), (2, 2)],
    );
}

#[test]
fn the_scaled_microcircuit_is_that_of_one_process_on_2_and_3_ranks() {
    same_files(
        "potjans",
        "examples/potjans_2014.toml",
        &["--scale-neurons", "0.02", "--duration-ms", "100"],
        &[(2, 1), (3, 1)],
    );
}

#[test]
fn an_error_is_printed_once_and_stops_every_rank() {
    let coba = root().join("examples/vogels_abbott_coba.toml");
    let o = mpirun(3, &["run", "/nonexistent/model.toml", "--quiet"]);
    assert!(!o.status.success());
    let t = text(&o);
    assert_eq!(t.matches("error: cannot read").count(), 1, "{t}");

    // Only rank 0 stages the output directory; the others learn of its refusal.
    let foreign = scratch("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let o = mpirun(
        2,
        &[
            "run",
            coba.to_str().unwrap(),
            "--quiet",
            "--out",
            foreign.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert_eq!(t.matches("error:").count(), 1, "{t}");
    assert!(t.contains("did not write"), "{t}");
    std::fs::remove_dir_all(&foreign).unwrap();

    // Twenty times the microcircuit's neurons at full in-degree (6·10⁹ synapses):
    // refused by the ranks together before any allocates.
    let pd = root().join("examples/potjans_2014.toml");
    let o = mpirun(
        2,
        &[
            "run",
            pd.to_str().unwrap(),
            "--quiet",
            "--scale-neurons",
            "20",
            "--out",
            scratch("huge").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert_eq!(t.matches("error:").count(), 1, "{t}");
    assert!(t.contains("MiB") && t.contains("ranks on this host"), "{t}");
}
