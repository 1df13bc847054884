//! `spikelab data fetch|show`: download a data set into the cache (with checksums),
//! and print a data set's statistics while drawing sample images, the spike raster of
//! an encoded sample and the images decoded back from the spikes. `show --events FILE`
//! does the same for an event-camera recording (N-MNIST `.bin`, `.csv`, `.npy`).

use crate::plot::{self, RasterGroup};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spikelab_core::encoding::{EncoderSpec, SpikeTrains, TimeGrid};
use spikelab_core::io::write_atomic_with;
use spikelab_data::events::{EventStream, FrameBinning};
use spikelab_data::fetch::{
    default_data_root, fetch, FetchEvent, FetchReport, FetchStatus, Manifest,
};
use spikelab_data::images::{load, DatasetName, ImageSet, Split};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `spikelab data`.
#[derive(Args, Debug)]
pub struct DataArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// `spikelab data` subcommands.
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Download a data set into the cache and verify its checksums (reuses valid files).
    Fetch(FetchArgs),
    /// Print statistics and draw sample images and encoded spike rasters.
    Show(ShowArgs),
}

/// Data sets known by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DatasetArg {
    /// Handwritten digits.
    Mnist,
    /// Zalando clothing images.
    FashionMnist,
    /// Kuzushiji characters.
    Kmnist,
}

impl From<DatasetArg> for DatasetName {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::Mnist => DatasetName::Mnist,
            DatasetArg::FashionMnist => DatasetName::FashionMnist,
            DatasetArg::Kmnist => DatasetName::Kmnist,
        }
    }
}

/// Splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// Training set.
    Train,
    /// Test set.
    Test,
}

/// Encoders by name (defaults fitted to the time window; `--encoder-file` sets any
/// parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// Bernoulli rate coding, P(spike per step) = intensity.
    Rate,
    /// Poisson rate coding in continuous time, 100 Hz at full intensity.
    Poisson,
    /// Linear latency (time-to-first-spike) coding over the window.
    Latency,
    /// Logarithmic (RC) latency coding.
    LatencyLog,
    /// Rank-order coding, one rank per step.
    RankOrder,
    /// Logarithmic temporal coding (binary-weighted spike times).
    LogTemporal,
    /// Temporal-switch coding (two neurons per pixel).
    TemporalSwitch,
    /// Phase coding.
    Phase,
    /// Burst coding.
    Burst,
    /// Gaussian population coding of each intensity.
    Population,
    /// Event-camera emulation with three saccades (like N-MNIST).
    Saccades,
}

impl EncodingArg {
    fn name(self) -> &'static str {
        match self {
            EncodingArg::Rate => "bernoulli",
            EncodingArg::Poisson => "poisson",
            EncodingArg::Latency => "latency",
            EncodingArg::LatencyLog => "latency_log",
            EncodingArg::RankOrder => "rank_order",
            EncodingArg::LogTemporal => "log_temporal",
            EncodingArg::TemporalSwitch => "temporal_switch",
            EncodingArg::Phase => "phase",
            EncodingArg::Burst => "burst",
            EncodingArg::Population => "population",
            EncodingArg::Saccades => "saccades",
        }
    }
}

/// Arguments of `spikelab data fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Data set to download.
    #[arg(value_enum)]
    pub dataset: DatasetArg,
    /// Data root; files go to DIR/DATASET/ (default: $SPIKELAB_DATA, else
    /// $XDG_CACHE_HOME/spikelab, else ~/.cache/spikelab).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Mirror to use instead of the standard ones (http://, https:// or file:// URL of
    /// a folder); repeat to try several in order.
    #[arg(long = "mirror")]
    pub mirrors: Vec<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `spikelab data show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Data root holding DATASET/ folders, or a folder with the IDX files (default:
    /// the fetch cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Data set.
    #[arg(long, value_enum, default_value_t = DatasetArg::Mnist)]
    pub dataset: DatasetArg,
    /// Split.
    #[arg(long, value_enum, default_value_t = SplitArg::Train)]
    pub split: SplitArg,
    /// Encoding for the raster and decoded images.
    #[arg(long, value_enum, default_value_t = EncodingArg::Rate)]
    pub encoding: EncodingArg,
    /// TOML file with an encoder (`kind = "latency"`, parameters...), overriding
    /// `--encoding`.
    #[arg(long)]
    pub encoder_file: Option<PathBuf>,
    /// Show an event recording (.bin N-MNIST, .csv, .npy) instead of an image set.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Output directory (default: out/data-show/DATASET-SPLIT).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Number of sample images to draw.
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Time steps of the encoding window.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Time step (ms).
    #[arg(long, default_value_t = 1.0)]
    pub dt_ms: f64,
    /// Seed of random encoders.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs `spikelab data ...`.
pub fn run(args: &DataArgs) -> Result<()> {
    match &args.command {
        DataCommand::Fetch(a) => fetch_command(a).map(|_| ()),
        DataCommand::Show(a) => show(a).map(|_| ()),
    }
}

/// Runs `spikelab data fetch`.
pub fn fetch_command(args: &FetchArgs) -> Result<FetchReport> {
    let name = DatasetName::from(args.dataset);
    let root = args.dir.clone().unwrap_or_else(default_data_root);
    let mut manifest = Manifest::standard(name);
    if !args.mirrors.is_empty() {
        manifest.mirrors = args.mirrors.clone();
    }
    let mut bar: Option<ProgressBar> = None;
    let quiet = args.quiet;
    let report = fetch(&manifest, &root, &mut |e| match e {
        FetchEvent::Cached { path } => {
            if !quiet {
                eprintln!("cached      {}", path.display());
            }
        }
        FetchEvent::Start { name, url, total } => {
            if !quiet {
                eprintln!("downloading {url}");
                let b = match total {
                    Some(t) => ProgressBar::new(t),
                    None => ProgressBar::no_length(),
                };
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} {bytes}/{total_bytes} {wide_bar}",
                    )
                    .expect("valid template"),
                );
                b.set_message(name.to_string());
                bar = Some(b);
            }
        }
        FetchEvent::Progress { bytes, .. } => {
            if let Some(b) = &bar {
                b.set_position(bytes);
            }
        }
        FetchEvent::Failed { url, error, .. } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!("failed      {url}: {error}");
        }
        FetchEvent::Done { path, bytes } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            if !quiet {
                eprintln!("verified    {} ({bytes} bytes)", path.display());
            }
        }
    })?;
    let downloaded = report
        .files
        .iter()
        .filter(|(_, s)| matches!(s, FetchStatus::Downloaded(_)))
        .count();
    println!(
        "{} is in {} ({} downloaded, {} cached; checksums verified)",
        name.title(),
        report.dir.display(),
        downloaded,
        report.files.len() - downloaded
    );
    Ok(report)
}

/// Statistics printed by `spikelab data show` (also written as `stats.json`).
#[derive(Debug, serde::Serialize)]
pub struct ShowSummary {
    /// Data set title (or the event file).
    pub dataset: String,
    /// Split (or "events").
    pub split: String,
    /// Number of images (or events).
    pub count: usize,
    /// Image (sensor) height.
    pub rows: usize,
    /// Image (sensor) width.
    pub cols: usize,
    /// Per class: name and count (empty for events).
    pub class_counts: Vec<(String, usize)>,
    /// Mean pixel intensity in [0, 1] (images).
    pub mean_intensity: f64,
    /// Fraction of non-zero pixels (images).
    pub nonzero_fraction: f64,
    /// Load time (s).
    pub load_s: f64,
    /// Encoder name.
    pub encoding: String,
    /// Mean spikes per encoded sample.
    pub spikes_per_sample: f64,
    /// Files written.
    pub files: Vec<String>,
}

/// Runs `spikelab data show`.
pub fn show(args: &ShowArgs) -> Result<ShowSummary> {
    if args.steps == 0 || !(args.dt_ms.is_finite() && args.dt_ms > 0.0) {
        bail!(
            "--steps must be >= 1 and --dt-ms > 0 (got {} and {})",
            args.steps,
            args.dt_ms
        );
    }
    let grid = TimeGrid::new(args.steps, args.dt_ms)?;
    if let Some(ev) = &args.events {
        return show_events(ev, args, &grid);
    }
    let name = DatasetName::from(args.dataset);
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
    };
    let root = args.data.clone().unwrap_or_else(default_data_root);
    let t0 = Instant::now();
    let set = load(&root, name, split, None)?;
    let load_s = t0.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("out")
            .join("data-show")
            .join(format!("{}-{}", name.dir_name(), split.name()))
    });
    let spec = encoder_spec(args, &grid, &set)?;
    let enc = spec.encoder();

    let counts = set.class_counts();
    let classes = name.class_names();
    let class_counts: Vec<(String, usize)> = counts
        .iter()
        .enumerate()
        .map(|(l, &c)| (classes.get(l).map_or(l.to_string(), |s| s.to_string()), c))
        .collect();
    println!(
        "{} {}: {} images of {}×{} in {:.3} s from {}",
        name.title(),
        split.name(),
        set.len(),
        set.rows,
        set.cols,
        load_s,
        root.display()
    );
    println!(
        "{:<6} {:<12} {:>8} {:>8}",
        "label", "class", "images", "share"
    );
    for (l, (cname, c)) in class_counts.iter().enumerate() {
        println!(
            "{l:<6} {cname:<12} {c:>8} {:>7.2}%",
            100.0 * *c as f64 / set.len().max(1) as f64
        );
    }
    let (mean, nonzero) = (set.mean_intensity(), set.nonzero_fraction());
    println!(
        "mean intensity {:.4} ({:.1}/255), non-zero pixels {:.1}%",
        mean,
        mean * 255.0,
        100.0 * nonzero
    );

    let n_show = args.samples.min(set.len());
    let cols = (n_show as f64).sqrt().ceil().max(1.0) as usize;
    let images: Vec<Vec<f32>> = (0..n_show).map(|i| set.image_f32(i)).collect();
    let labels: Vec<String> = (0..n_show).map(|i| set.labels[i].to_string()).collect();
    let mut files = Vec::new();
    let samples_png = out.join("samples.png");
    plot::image_grid(
        &samples_png,
        &format!(
            "{} {}: first {n_show}, labels {}",
            name.title(),
            split.name(),
            labels.join(" ")
        ),
        &images,
        set.cols,
        set.rows,
        cols,
    )?;
    files.push(samples_png);

    // Encode the shown samples (keys = their indices).
    let trains: Vec<SpikeTrains> = images
        .iter()
        .enumerate()
        .map(|(i, img)| enc.encode(img, &grid, args.seed, i as u64))
        .collect();
    let spikes_per_sample =
        trains.iter().map(|t| t.len() as f64).sum::<f64>() / trains.len().max(1) as f64;
    let n_out = enc.n_outputs(set.pixels());
    println!(
        "{} encoding, {} steps of {} ms: {} output neurons, {:.1} spikes per sample ({:.4} per neuron per step)",
        enc.name(),
        grid.n_steps,
        grid.dt_ms,
        n_out,
        spikes_per_sample,
        spikes_per_sample / (n_out.max(1) * grid.n_steps) as f64
    );
    if let Some(first) = trains.first() {
        let raster_png = out.join(format!("raster_{}.png", enc.name()));
        raster_png_of(
            &raster_png,
            first,
            &format!(
                "{} sample 0 (label {}), {} encoding",
                name.title(),
                set.labels[0],
                enc.name()
            ),
            grid.duration_ms(),
        )?;
        files.push(raster_png);
        let (decoded, w, h, what) = match spec.decoder() {
            Some(dec) => (
                trains
                    .iter()
                    .map(|t| dec.decode(t, &grid, set.pixels()))
                    .collect::<Vec<_>>(),
                set.cols,
                set.rows,
                "decoded from the spikes",
            ),
            None => {
                // Saccades: spike counts per sensor pixel (ON + OFF).
                let EncoderSpec::Saccades(s) = &spec else {
                    unreachable!("only saccades have no decoder")
                };
                let (cw, ch) = s.canvas();
                let img = trains
                    .iter()
                    .map(|t| {
                        let c = t.counts();
                        (0..cw * ch)
                            .map(|p| (c[p] + c[cw * ch + p]) as f32)
                            .collect()
                    })
                    .collect();
                (img, cw, ch, "event counts per pixel")
            }
        };
        let decoded_png = out.join(format!("decoded_{}.png", enc.name()));
        plot::image_grid(
            &decoded_png,
            &format!("{} encoding: {what}", enc.name()),
            &decoded,
            w,
            h,
            cols,
        )?;
        files.push(decoded_png);
    }
    let summary = ShowSummary {
        dataset: name.title().into(),
        split: split.name().into(),
        count: set.len(),
        rows: set.rows,
        cols: set.cols,
        class_counts,
        mean_intensity: mean,
        nonzero_fraction: nonzero,
        load_s,
        encoding: enc.name().into(),
        spikes_per_sample,
        files: files.iter().map(|p| p.display().to_string()).collect(),
    };
    finish(&out, summary)
}

fn finish(out: &Path, mut summary: ShowSummary) -> Result<ShowSummary> {
    let stats = out.join("stats.json");
    summary.files.push(stats.display().to_string());
    write_atomic_with(&stats, |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        Ok::<(), anyhow::Error>(())
    })?;
    println!("wrote {}", summary.files.join(", "));
    Ok(summary)
}

fn raster_png_of(path: &Path, trains: &SpikeTrains, title: &str, t_max_ms: f64) -> Result<()> {
    plot::raster(
        path,
        title,
        &[RasterGroup {
            label: "inputs",
            times_ms: &trains.times_ms,
            neurons: &trains.neurons,
            size: trains.n_neurons,
        }],
        t_max_ms,
    )
}

/// The encoder of `show`: from `--encoder-file`, or `--encoding` with its time
/// parameters fitted to the window.
fn encoder_spec(args: &ShowArgs, grid: &TimeGrid, set: &ImageSet) -> Result<EncoderSpec> {
    if let Some(path) = &args.encoder_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(EncoderSpec::from_toml(&text, &path.display().to_string())?);
    }
    let spec = EncoderSpec::by_name(args.encoding.name())?.fitted_to(grid, set.cols, set.rows);
    spec.validate("encoder")?;
    Ok(spec)
}

fn show_events(path: &Path, args: &ShowArgs, grid: &TimeGrid) -> Result<ShowSummary> {
    let t0 = Instant::now();
    let stream = EventStream::read(path, None)?;
    let load_s = t0.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map_or("events".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("out").join("data-show").join(stem)
    });
    let (off, on) = stream.polarity_counts();
    let (first, last) = stream.time_range_us().unwrap_or((0, 0));
    let dur_ms = (last - first) as f64 / 1000.0;
    println!(
        "{}: {} events on a {}×{} sensor, {:.1} ms ({} µs to {} µs), {} ON / {} OFF, {:.0} events/s",
        path.display(),
        stream.len(),
        stream.width,
        stream.height,
        dur_ms,
        first,
        last,
        on,
        off,
        stream.len() as f64 / (dur_ms * 1e-3).max(1e-9)
    );
    let mut files = Vec::new();
    if !stream.is_empty() {
        let n_frames = args.samples.clamp(1, 64);
        let frames = stream.to_frames(FrameBinning::TimeBins(n_frames))?;
        let hw = stream.width * stream.height;
        let imgs: Vec<Vec<f32>> = (0..frames.n_frames)
            .map(|f| {
                let fr = frames.frame(f);
                (0..hw).map(|p| fr[hw + p] - fr[p]).collect()
            })
            .collect();
        let cols = (n_frames as f64).sqrt().ceil() as usize;
        let frames_png = out.join("frames.png");
        plot::image_grid(
            &frames_png,
            &format!(
                "{n_frames} time bins of {:.1} ms: ON − OFF counts",
                dur_ms / n_frames as f64
            ),
            &imgs,
            stream.width,
            stream.height,
            cols,
        )?;
        files.push(frames_png);
        let trains = stream.to_spike_trains(first, dur_ms + grid.dt_ms);
        let raster_png = out.join("raster_events.png");
        raster_png_of(
            &raster_png,
            &trains,
            "events as spikes (OFF neurons, then ON)",
            trains.duration_ms,
        )?;
        files.push(raster_png);
    }
    finish(
        &out,
        ShowSummary {
            dataset: path.display().to_string(),
            split: "events".into(),
            count: stream.len(),
            rows: stream.height,
            cols: stream.width,
            class_counts: Vec::new(),
            mean_intensity: 0.0,
            nonzero_fraction: 0.0,
            load_s,
            encoding: "events".into(),
            spikes_per_sample: stream.len() as f64,
            files: files.iter().map(|p| p.display().to_string()).collect(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_data::idx::{write_idx, IdxArray};

    fn toy_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mnist");
        let n = 12;
        let imgs: Vec<u8> = (0..n * 28 * 28).map(|k| ((k * 7) % 256) as u8).collect();
        write_idx(
            &dir.join("train-images-idx3-ubyte.gz"),
            &IdxArray::from_u8(vec![n, 28, 28], imgs).unwrap(),
            true,
        )
        .unwrap();
        write_idx(
            &dir.join("train-labels-idx1-ubyte"),
            &IdxArray::from_u8(vec![n], (0..n as u8).map(|l| l % 10).collect()).unwrap(),
            false,
        )
        .unwrap();
        root
    }

    fn show_args(root: &Path, out: &Path, encoding: EncodingArg) -> ShowArgs {
        ShowArgs {
            data: Some(root.to_path_buf()),
            dataset: DatasetArg::Mnist,
            split: SplitArg::Train,
            encoding,
            encoder_file: None,
            events: None,
            out: Some(out.to_path_buf()),
            samples: 4,
            steps: 30,
            dt_ms: 1.0,
            seed: 1,
        }
    }

    #[test]
    fn show_prints_statistics_and_writes_pngs_for_every_encoding() {
        let root = toy_root();
        let out = tempfile::tempdir().unwrap();
        for enc in EncodingArg::value_variants() {
            let s = show(&show_args(root.path(), out.path(), *enc)).unwrap();
            assert_eq!(s.count, 12);
            assert_eq!(s.class_counts[0], ("0".to_string(), 2));
            assert_eq!(s.class_counts[2], ("2".to_string(), 1));
            assert!(s.spikes_per_sample > 0.0, "{enc:?}");
            for f in &s.files {
                assert!(Path::new(f).is_file(), "{f}");
            }
            assert_eq!(s.files.len(), 4, "{:?}", s.files);
        }
        let bytes = std::fs::read(out.path().join("samples.png")).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }

    #[test]
    fn show_reads_encoder_files_and_event_recordings() {
        let root = toy_root();
        let out = tempfile::tempdir().unwrap();
        let enc = out.path().join("enc.toml");
        std::fs::write(
            &enc,
            "kind = \"latency\"\nt_max_ms = 10.0\nthreshold = 0.2\n",
        )
        .unwrap();
        let mut a = show_args(root.path(), out.path(), EncodingArg::Rate);
        a.encoder_file = Some(enc.clone());
        assert_eq!(show(&a).unwrap().encoding, "latency");
        std::fs::write(&enc, "kind = \"latency\"\nt_max = 10.0\n").unwrap();
        let e = format!("{:#}", show(&a).unwrap_err());
        assert!(e.contains("t_max") && e.contains("enc.toml"), "{e}");
        // An event file: made by the saccade emulator, saved as N-MNIST.
        let sac = spikelab_core::encoding::Saccades::default();
        let img: Vec<f32> = (0..784)
            .map(|k| {
                if (k % 28) > 10 && (k % 28) < 18 {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let stream = EventStream::new(34, 34, sac.events(&img).unwrap()).unwrap();
        let bin = out.path().join("rec.bin");
        stream.write(&bin).unwrap();
        let mut a = show_args(root.path(), out.path(), EncodingArg::Rate);
        a.events = Some(bin);
        let s = show(&a).unwrap();
        assert_eq!(s.count, stream.len());
        assert_eq!((s.rows, s.cols), (34, 34));
        assert!(out.path().join("frames.png").is_file());
    }

    #[test]
    fn missing_data_and_bad_arguments_are_clear_errors() {
        let empty = tempfile::tempdir().unwrap();
        let mut a = show_args(empty.path(), empty.path(), EncodingArg::Rate);
        let e = show(&a).unwrap_err().to_string();
        assert!(e.contains("spikelab data fetch mnist"), "{e}");
        a.steps = 0;
        assert!(show(&a).unwrap_err().to_string().contains("--steps"));
    }

    #[test]
    fn fetch_command_uses_the_given_mirror() {
        // A file:// mirror holding the four files of a toy "mnist" whose checksums
        // do not match: the command fails naming the checksum, and writes nothing.
        let mirror = tempfile::tempdir().unwrap();
        for f in Manifest::standard(DatasetName::Mnist).files {
            std::fs::write(mirror.path().join(&f.name), b"not mnist").unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let args = FetchArgs {
            dataset: DatasetArg::Mnist,
            dir: Some(dir.path().to_path_buf()),
            mirrors: vec![format!("file://{}", mirror.path().display())],
            quiet: true,
        };
        let e = fetch_command(&args).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("mnist")).unwrap().count(),
            0
        );
    }
}
