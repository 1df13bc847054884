//! Labelled event-camera data sets in the N-MNIST folder layout — `<root>/Train/<label>/
//! *.bin` and `<root>/Test/<label>/*.bin` (also lowercase `train`/`test`; any file the
//! event reader takes: N-MNIST binary, CSV, NPY) — as trainer samples of binned
//! frames: each recording is cut into `frames` equal time bins
//! ([`FrameBinning::TimeBins`]) of `2 × H × W` event counts (OFF then ON), one row
//! per frame, so the trainer's `sequence` encoding presents frame t at step t. A count
//! becomes a byte as `min(64·count, 255)`: one event is a quarter of the full input,
//! four or more saturate.

use crate::error::{Error, Result};
use crate::events::{EventStream, FrameBinning};
use crate::images::{ImageSet, Split};
use std::path::{Path, PathBuf};

/// How recordings become samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFrames {
    /// Frames (time bins) per recording.
    pub frames: usize,
    /// Sensor size `(width, height)`; None: what the reader finds for the first
    /// recording (for `.bin` files N-MNIST's 34 × 34 when the events fit), which then
    /// holds for every recording.
    pub size: Option<(usize, usize)>,
}

/// The split folder (`Train`/`train`, `Test`/`test`) of `root`.
pub fn split_dir(root: &Path, split: Split) -> Result<PathBuf> {
    let names: &[&str] = match split {
        Split::Train => &["Train", "train"],
        Split::Test => &["Test", "test"],
    };
    names
        .iter()
        .map(|n| root.join(n))
        .find(|p| p.is_dir())
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no {} folder in {} (the N-MNIST layout: {}/<label>/*.bin)",
                names[0],
                root.display(),
                names[0]
            ))
        })
}

/// The recordings of a split folder: `(label, path)`, labels from the numeric names
/// of the class folders, files in name order.
fn recordings(dir: &Path) -> Result<Vec<(u8, PathBuf)>> {
    let read = |d: &Path| {
        std::fs::read_dir(d).map_err(|e| Error::Io {
            action: "cannot read",
            path: d.into(),
            source: e,
        })
    };
    let mut classes: Vec<(u8, PathBuf)> = Vec::new();
    for entry in read(dir)? {
        let entry = entry.map_err(|e| Error::Io {
            action: "cannot read",
            path: dir.into(),
            source: e,
        })?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let label: u8 = name.parse().map_err(|_| {
            Error::Invalid(format!(
                "class folder `{}` is not a label 0..=255 (the N-MNIST layout names class folders by number)",
                path.display()
            ))
        })?;
        classes.push((label, path));
    }
    classes.sort();
    let mut out = Vec::new();
    for (label, class_dir) in classes {
        let mut files: Vec<PathBuf> = read(&class_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (label, f)));
    }
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "no recordings under {} (expected <label>/<file>.bin)",
            dir.display()
        )));
    }
    Ok(out)
}

/// Loads a split as trainer samples (see the module docs): `frames` rows of
/// `2·W·H` columns per recording, at most `limit` recordings (taken evenly over the
/// file order when fewer than all are asked for, so every class is present).
pub fn load_event_folder(
    root: &Path,
    split: Split,
    binning: EventFrames,
    limit: Option<usize>,
) -> Result<ImageSet> {
    if binning.frames == 0 {
        return Err(Error::Invalid("frames must be at least 1".into()));
    }
    let mut files = recordings(&split_dir(root, split)?)?;
    if let Some(n) = limit {
        if n == 0 {
            return Err(Error::Invalid(
                "the recording limit must be at least 1".into(),
            ));
        }
        if n < files.len() {
            let total = files.len();
            files = (0..n).map(|k| files[k * total / n].clone()).collect();
        }
    }
    let mut size = binning.size;
    let mut images = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    for (label, path) in &files {
        let stream = EventStream::read(path, size)?;
        let (w, h) = (stream.width, stream.height);
        match size {
            None => size = Some((w, h)),
            Some((sw, sh)) if (sw, sh) != (w, h) => {
                return Err(Error::Invalid(format!(
                    "{} is a {w} × {h} recording, the first was {sw} × {sh}; give the sensor size",
                    path.display()
                )))
            }
            Some(_) => {}
        }
        let frames = stream.to_frames(FrameBinning::TimeBins(binning.frames))?;
        images.extend(frames.data.iter().map(|&c| (64.0 * c).min(255.0) as u8));
        labels.push(*label);
    }
    let (w, h) = size.expect("at least one recording was read");
    Ok(ImageSet {
        images,
        labels,
        rows: binning.frames,
        cols: 2 * w * h,
        channels: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikelab_core::encoding::delta::{Event, Polarity};

    fn write(dir: &Path, split: &str, label: u8, k: usize, events: Vec<Event>) {
        let d = dir.join(split).join(label.to_string());
        std::fs::create_dir_all(&d).unwrap();
        EventStream::new(4, 3, events)
            .unwrap()
            .write(&d.join(format!("{k:05}.bin")))
            .unwrap();
    }

    fn ev(t_us: u64, x: u16, y: u16, on: bool) -> Event {
        Event {
            t_us,
            x,
            y,
            polarity: if on { Polarity::On } else { Polarity::Off },
        }
    }

    #[test]
    fn a_folder_of_recordings_becomes_binned_frames() {
        let dir = tempfile::tempdir().unwrap();
        for k in 0..3 {
            write(
                dir.path(),
                "Train",
                0,
                k,
                vec![ev(0, 0, 0, true), ev(10, 0, 0, true), ev(1000, 3, 2, false)],
            );
            write(
                dir.path(),
                "Train",
                1,
                k,
                vec![ev(0, 1, 1, false), ev(999, 2, 1, true)],
            );
        }
        let b = EventFrames {
            frames: 2,
            size: Some((4, 3)),
        };
        let set = load_event_folder(dir.path(), Split::Train, b, None).unwrap();
        assert_eq!((set.rows, set.cols, set.len()), (2, 24, 6));
        assert_eq!(set.labels, [0, 0, 0, 1, 1, 1]);
        let s0 = &set.images[..48];
        // Two ON events at (0, 0) in frame 0: 128; one OFF event at (3, 2) in frame 1.
        assert_eq!(s0[12], 128);
        assert_eq!(s0[24 + 11], 64);
        assert_eq!(s0.iter().filter(|&&v| v != 0).count(), 2);
        // A limit keeps both classes.
        let some = load_event_folder(dir.path(), Split::Train, b, Some(2)).unwrap();
        assert_eq!(some.labels, [0, 1]);
        // Errors: no test folder, a non-numeric class, zero frames.
        let e = load_event_folder(dir.path(), Split::Test, b, None).unwrap_err();
        assert!(e.to_string().contains("Test"), "{e}");
        let bad = EventFrames { frames: 0, ..b };
        assert!(load_event_folder(dir.path(), Split::Train, bad, None).is_err());
        std::fs::create_dir_all(dir.path().join("Train").join("cat")).unwrap();
        let e = load_event_folder(dir.path(), Split::Train, b, None).unwrap_err();
        assert!(e.to_string().contains("cat"), "{e}");
    }
}
