//! Event streams of event cameras: reading and writing the N-MNIST / N-Caltech101
//! binary format and plain CSV / NPY event lists, and converting events to frames
//! (time bins or event-count bins) and to spike trains for the simulator or the
//! trainer.
//!
//! **N-MNIST / N-Caltech101 binary** (Orchard et al. 2015): a sequence of 40-bit
//! events, 5 bytes each, no header:
//!
//! ```text
//! byte 0: x (u8)        byte 1: y (u8)
//! byte 2: bit 7 = polarity (1 = ON), bits 6..0 = timestamp bits 22..16
//! byte 3: timestamp bits 15..8      byte 4: timestamp bits 7..0      (µs)
//! ```
//!
//! An event with `y = 240` is not an event but a timestamp-overflow marker: every
//! later timestamp is increased by 2¹³ µs. This follows the dataset authors' reader
//! (`eventvision.py`, also used by tonic); the N-MNIST files themselves are ~300 ms
//! long and contain no markers.
//!
//! **CSV**: one event per line, `t_us,x,y,p` (p = 1 ON, 0 or −1 OFF); an optional
//! header line and `#` comments are skipped. **NPY**: a 2-D array of shape `(n, 4)`
//! with the same columns, of any integer or float type.
//!
//! Neuron of an event in spike trains: `p · W·H + y · W + x` (OFF block first), as in
//! [`spikelab_core::encoding::delta`].

use crate::error::{Error, Result};
use spikelab_core::encoding::delta::events_to_trains;
use spikelab_core::encoding::{Event, Polarity, SpikeTrains};
use std::path::{Path, PathBuf};

/// Timestamp increment of an N-MNIST overflow marker (µs).
pub const NMNIST_OVERFLOW_US: u64 = 1 << 13;
/// The `y` address that marks a timestamp overflow in N-MNIST files.
pub const NMNIST_OVERFLOW_Y: u8 = 240;
/// Sensor size of N-MNIST recordings (34 × 34 pixels).
pub const NMNIST_SIZE: (usize, usize) = (34, 34);

/// Events of a `width × height` sensor, in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct EventStream {
    /// Sensor width (pixels).
    pub width: usize,
    /// Sensor height (pixels).
    pub height: usize,
    /// The events, sorted by time.
    pub events: Vec<Event>,
}

/// How [`EventStream::to_frames`] cuts the stream into frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameBinning {
    /// `n` frames of equal duration spanning first to last event.
    TimeBins(usize),
    /// Frames of a fixed duration (µs) from the first event on.
    BinDurationUs(u64),
    /// `n` frames with (as nearly as possible) equal numbers of events.
    EventCountBins(usize),
}

/// Event counts per frame, polarity and pixel: `data[((f·2 + p)·H + y)·W + x]`
/// (p = 0 OFF, 1 ON).
#[derive(Clone, Debug, PartialEq)]
pub struct Frames {
    /// Number of frames.
    pub n_frames: usize,
    /// Sensor height.
    pub height: usize,
    /// Sensor width.
    pub width: usize,
    /// Start time of each frame (µs).
    pub starts_us: Vec<u64>,
    /// The counts.
    pub data: Vec<f32>,
}

impl Frames {
    /// The `2 × H × W` counts of frame `f`.
    pub fn frame(&self, f: usize) -> &[f32] {
        let n = 2 * self.height * self.width;
        &self.data[f * n..(f + 1) * n]
    }
}

impl EventStream {
    /// A stream of `events` (sorted here) on a `width × height` sensor; events outside
    /// it are an error.
    pub fn new(width: usize, height: usize, mut events: Vec<Event>) -> Result<Self> {
        if let Some(e) = events
            .iter()
            .find(|e| e.x as usize >= width || e.y as usize >= height)
        {
            return Err(Error::Invalid(format!(
                "event at ({}, {}) lies outside the {width}×{height} sensor",
                e.x, e.y
            )));
        }
        events.sort_by_key(|e| e.t_us);
        Ok(EventStream {
            width,
            height,
            events,
        })
    }

    /// A stream whose sensor is just large enough for its events (or `size` if given).
    pub fn with_size(events: Vec<Event>, size: Option<(usize, usize)>) -> Result<Self> {
        let (w, h) = size.unwrap_or_else(|| {
            (
                events.iter().map(|e| e.x as usize + 1).max().unwrap_or(0),
                events.iter().map(|e| e.y as usize + 1).max().unwrap_or(0),
            )
        });
        EventStream::new(w, h, events)
    }

    /// Reads an N-MNIST / N-Caltech101 file. Without `size`, the sensor is N-MNIST's
    /// 34×34 if every event fits in it, else just large enough for the events.
    pub fn read_nmnist(path: &Path, size: Option<(usize, usize)>) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        let events = parse_nmnist(&bytes, &path.display().to_string())?;
        let fits = events
            .iter()
            .all(|e| (e.x as usize) < NMNIST_SIZE.0 && (e.y as usize) < NMNIST_SIZE.1);
        let size = size.or(fits.then_some(NMNIST_SIZE));
        EventStream::with_size(events, size)
            .map_err(|e| Error::format(path.display().to_string(), "N-MNIST event", e.to_string()))
    }

    /// Reads an event file by extension: `.bin` (N-MNIST), `.csv`, `.npy`.
    pub fn read(path: &Path, size: Option<(usize, usize)>) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = path.display().to_string();
        let events = match ext.as_str() {
            "bin" => return Self::read_nmnist(path, size),
            "csv" | "txt" => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
                parse_csv(&text, &name)?
            }
            "npy" => {
                let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
                parse_npy(&bytes, &name)?
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "{name}: unknown event file type `.{ext}`; allowed: .bin (N-MNIST), .csv, .npy"
                )))
            }
        };
        EventStream::with_size(events, size)
    }

    /// Writes the stream by extension: `.bin`, `.csv` or `.npy` (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = match ext.as_str() {
            "bin" => encode_nmnist(&self.events)?,
            "csv" => encode_csv(&self.events).into_bytes(),
            "npy" => encode_npy(&self.events)?,
            _ => {
                return Err(Error::Invalid(format!(
                    "{}: unknown event file type `.{ext}`; allowed: .bin, .csv, .npy",
                    path.display()
                )))
            }
        };
        Ok(spikelab_core::io::write_atomic(path, &bytes)?)
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Time of the first and last event (µs), if any.
    pub fn time_range_us(&self) -> Option<(u64, u64)> {
        Some((self.events.first()?.t_us, self.events.last()?.t_us))
    }

    /// Number of (OFF, ON) events.
    pub fn polarity_counts(&self) -> (usize, usize) {
        let on = self
            .events
            .iter()
            .filter(|e| e.polarity == Polarity::On)
            .count();
        (self.events.len() - on, on)
    }

    /// The events on a sensor `factor` times smaller in each direction
    /// (`x / factor`, `y / factor`; events are kept, so counts add up).
    pub fn downsample(&self, factor: usize) -> Result<EventStream> {
        if factor == 0 {
            return Err(Error::Invalid(
                "downsample factor must be at least 1".into(),
            ));
        }
        Ok(EventStream {
            width: self.width.div_ceil(factor),
            height: self.height.div_ceil(factor),
            events: self
                .events
                .iter()
                .map(|e| Event {
                    x: (e.x as usize / factor) as u16,
                    y: (e.y as usize / factor) as u16,
                    ..*e
                })
                .collect(),
        })
    }

    /// Counts events into frames (see [`FrameBinning`]). Time bins span the first to
    /// the last event; an empty stream gives empty frames.
    pub fn to_frames(&self, binning: FrameBinning) -> Result<Frames> {
        let (t0, t1) = self.time_range_us().unwrap_or((0, 0));
        let span = t1 - t0 + 1;
        let (n_frames, starts_us): (usize, Vec<u64>) = match binning {
            FrameBinning::TimeBins(n) | FrameBinning::EventCountBins(n) if n == 0 => {
                return Err(Error::Invalid(
                    "the number of frames must be at least 1".into(),
                ))
            }
            FrameBinning::BinDurationUs(0) => {
                return Err(Error::Invalid(
                    "the frame duration must be at least 1 µs".into(),
                ))
            }
            FrameBinning::TimeBins(n) => (
                n,
                (0..n)
                    .map(|k| t0 + (k as u128 * span as u128).div_ceil(n as u128) as u64)
                    .collect(),
            ),
            FrameBinning::BinDurationUs(d) => {
                let n = span.div_ceil(d) as usize;
                if n > 1_000_000 {
                    return Err(Error::Invalid(format!(
                        "{d} µs frames over {span} µs make {n} frames (at most 1000000)"
                    )));
                }
                (n, (0..n).map(|k| t0 + k as u64 * d).collect())
            }
            FrameBinning::EventCountBins(n) => {
                let m = self.events.len();
                (
                    n,
                    (0..n)
                        .map(|k| self.events.get(k * m / n).map_or(t1, |e| e.t_us))
                        .collect(),
                )
            }
        };
        let (w, h) = (self.width, self.height);
        let per_frame = 2 * w * h;
        let mut data = vec![0f32; n_frames * per_frame];
        let m = self.events.len();
        for (k, e) in self.events.iter().enumerate() {
            let f = match binning {
                FrameBinning::TimeBins(n) => {
                    ((e.t_us - t0) as u128 * n as u128 / span as u128) as usize
                }
                FrameBinning::BinDurationUs(d) => ((e.t_us - t0) / d) as usize,
                FrameBinning::EventCountBins(n) => k * n / m,
            };
            let idx = f * per_frame + (e.polarity as usize * h + e.y as usize) * w + e.x as usize;
            data[idx] += 1.0;
        }
        Ok(Frames {
            n_frames,
            height: h,
            width: w,
            starts_us,
            data,
        })
    }

    /// Spike trains of the events from `t0_us` on, over `duration_ms`: `2·W·H`
    /// neurons (OFF block then ON block), times relative to `t0_us`. Feed them to a
    /// spike-generator population with [`SpikeTrains::to_generator`], or bin them on
    /// a time grid for the trainer with [`SpikeTrains::to_dense`].
    pub fn to_spike_trains(&self, t0_us: u64, duration_ms: f64) -> SpikeTrains {
        events_to_trains(&self.events, self.width, self.height, t0_us, duration_ms)
    }
}

/// Parses N-MNIST / N-Caltech101 bytes (see the module documentation); `name` names
/// the source in errors. Overflow markers are applied and dropped.
pub fn parse_nmnist(bytes: &[u8], name: &str) -> Result<Vec<Event>> {
    if !bytes.len().is_multiple_of(5) {
        return Err(Error::format(
            name,
            "N-MNIST event",
            format!(
                "its length ({} bytes) is not a multiple of 5 (40-bit events): the file is truncated or not an N-MNIST file",
                bytes.len()
            ),
        ));
    }
    let mut offset = 0u64;
    let mut events = Vec::with_capacity(bytes.len() / 5);
    for c in bytes.chunks_exact(5) {
        if c[1] == NMNIST_OVERFLOW_Y {
            offset += NMNIST_OVERFLOW_US;
            continue;
        }
        let ts = ((c[2] as u64 & 0x7f) << 16) | ((c[3] as u64) << 8) | c[4] as u64;
        events.push(Event {
            t_us: ts + offset,
            x: c[0] as u16,
            y: c[1] as u16,
            polarity: if c[2] & 0x80 != 0 {
                Polarity::On
            } else {
                Polarity::Off
            },
        });
    }
    Ok(events)
}

/// Encodes events (sorted by time) in the N-MNIST format, inserting overflow markers
/// where a timestamp does not fit 23 bits.
pub fn encode_nmnist(events: &[Event]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(events.len() * 5);
    let mut offset = 0u64;
    for (k, e) in events.iter().enumerate() {
        if e.x > 255 || e.y > 255 || e.y == NMNIST_OVERFLOW_Y as u16 {
            return Err(Error::Invalid(format!(
                "event {k} at ({}, {}): N-MNIST addresses are bytes and y = 240 is reserved",
                e.x, e.y
            )));
        }
        if e.t_us < offset {
            return Err(Error::Invalid(format!(
                "event {k}: events must be sorted by time to be written in N-MNIST format"
            )));
        }
        while e.t_us - offset >= 1 << 23 {
            out.extend_from_slice(&[0, NMNIST_OVERFLOW_Y, 0, 0, 0]);
            offset += NMNIST_OVERFLOW_US;
        }
        let ts = e.t_us - offset;
        out.extend_from_slice(&[
            e.x as u8,
            e.y as u8,
            ((e.polarity as u8) << 7) | (ts >> 16) as u8,
            (ts >> 8) as u8,
            ts as u8,
        ]);
    }
    Ok(out)
}

/// Parses CSV events (`t_us,x,y,p`; see the module documentation).
pub fn parse_csv(text: &str, name: &str) -> Result<Vec<Event>> {
    const FMT: &str = "CSV event";
    let mut events = Vec::new();
    let mut first = true;
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let is_header = first && fields.first().is_some_and(|f| f.parse::<f64>().is_err());
        first = false;
        if is_header {
            continue;
        }
        if fields.len() != 4 {
            return Err(Error::format(
                name,
                FMT,
                format!(
                    "line {}: expected 4 comma-separated fields t_us,x,y,p (got {})",
                    ln + 1,
                    fields.len()
                ),
            ));
        }
        let int = |k: usize, col: &str, max: i64, min: i64| -> Result<i64> {
            let v = fields[k]
                .parse::<i64>()
                .ok()
                .or_else(|| {
                    fields[k]
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                        .map(|f| f as i64)
                })
                .filter(|v| (min..=max).contains(v));
            v.ok_or_else(|| {
                Error::format(
                    name,
                    FMT,
                    format!(
                        "line {}, column {col}: `{}` is not an integer in {min}..={max}",
                        ln + 1,
                        fields[k]
                    ),
                )
            })
        };
        let t = int(0, "t_us", i64::MAX, 0)?;
        let x = int(1, "x", 65535, 0)?;
        let y = int(2, "y", 65535, 0)?;
        let p = int(3, "p", 1, -1)?;
        events.push(Event {
            t_us: t as u64,
            x: x as u16,
            y: y as u16,
            polarity: if p == 1 { Polarity::On } else { Polarity::Off },
        });
    }
    Ok(events)
}

/// CSV text of events with a `t_us,x,y,p` header.
pub fn encode_csv(events: &[Event]) -> String {
    let mut s = String::with_capacity(16 + events.len() * 16);
    s.push_str("t_us,x,y,p\n");
    for e in events {
        s.push_str(&format!(
            "{},{},{},{}\n",
            e.t_us, e.x, e.y, e.polarity as u8
        ));
    }
    s
}

/// Parses an NPY `(n, 4)` array of `[t_us, x, y, p]` rows (any integer or float type).
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<Vec<Event>> {
    const FMT: &str = "NPY event";
    let err = |m: String| Error::format(name, FMT, m);
    let file = npyz::NpyFile::new(bytes).map_err(|e| err(format!("bad NPY header ({e})")))?;
    let shape = file.shape().to_vec();
    if shape.len() != 2 || shape[1] != 4 {
        return Err(err(format!(
            "array shape {shape:?}; expected (n, 4) with columns t_us, x, y, p"
        )));
    }
    if file.order() == npyz::Order::Fortran {
        return Err(err(
            "Fortran-ordered arrays are not supported; save with C order".into(),
        ));
    }
    let descr = file.dtype().descr();
    let values: Vec<f64> =
        read_npy_numbers(file).map_err(|m| err(format!("{m} (dtype {descr})")))?;
    if values.len() as u64 != shape[0] * 4 {
        return Err(err(format!(
            "holds {} values but its shape {shape:?} needs {}",
            values.len(),
            shape[0] * 4
        )));
    }
    let mut events = Vec::with_capacity(values.len() / 4);
    for (k, r) in values.chunks_exact(4).enumerate() {
        let bad = |col: &str, v: f64, max: f64, min: f64| {
            err(format!(
                "row {k}, column {col}: {v} is not an integer in {min}..={max}"
            ))
        };
        let check = |col: &str, v: f64, min: f64, max: f64| -> Result<f64> {
            if v.fract() == 0.0 && v >= min && v <= max {
                Ok(v)
            } else {
                Err(bad(col, v, max, min))
            }
        };
        let t = check("t_us", r[0], 0.0, 9.007e15)?;
        let x = check("x", r[1], 0.0, 65535.0)?;
        let y = check("y", r[2], 0.0, 65535.0)?;
        let p = check("p", r[3], -1.0, 1.0)?;
        events.push(Event {
            t_us: t as u64,
            x: x as u16,
            y: y as u16,
            polarity: if p == 1.0 {
                Polarity::On
            } else {
                Polarity::Off
            },
        });
    }
    Ok(events)
}

fn read_npy_numbers(file: npyz::NpyFile<&[u8]>) -> std::result::Result<Vec<f64>, String> {
    macro_rules! try_type {
        ($file:expr, $t:ty $(, $rest:ty)*) => {
            match $file.try_data::<$t>() {
                Ok(reader) => reader
                    .map(|v| v.map(|x| x as f64))
                    .collect::<std::io::Result<Vec<f64>>>()
                    .map_err(|e| format!("cannot read the data ({e})")),
                Err(file) => try_type!(file $(, $rest)*),
            }
        };
        ($file:expr) => {{
            let _ = $file;
            Err("unsupported element type; use an integer or float type".to_string())
        }};
    }
    try_type!(file, i64, i32, i16, i8, u64, u32, u16, u8, f64, f32)
}

/// NPY bytes of events as an `(n, 4)` int64 array `[t_us, x, y, p]`.
pub fn encode_npy(events: &[Event]) -> Result<Vec<u8>> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::<i64>::new()
            .default_dtype()
            .shape(&[events.len() as u64, 4])
            .writer(&mut out)
            .begin_nd()
            .map_err(|e| Error::Invalid(format!("cannot encode NPY: {e}")))?;
        for e in events {
            w.extend([e.t_us as i64, e.x as i64, e.y as i64, e.polarity as i64])
                .map_err(|e| Error::Invalid(format!("cannot encode NPY: {e}")))?;
        }
        w.finish()
            .map_err(|e| Error::Invalid(format!("cannot encode NPY: {e}")))?;
    }
    Ok(out)
}

/// Files of a labelled event data set laid out as `dir/<label>/<file>.<ext>` (the
/// N-MNIST `Train/` and `Test/` folders), with their labels, sorted by label then name.
pub fn list_labelled_files(dir: &Path, ext: &str) -> Result<Vec<(PathBuf, u32)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let Some(label) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !entry.path().is_dir() {
            continue;
        }
        let sub = entry.path();
        let files = std::fs::read_dir(&sub).map_err(|e| Error::io("cannot list", &sub, e))?;
        for f in files {
            let f = f.map_err(|e| Error::io("cannot list", &sub, e))?.path();
            if f.extension().and_then(|e| e.to_str()) == Some(ext) {
                out.push((f, label));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "no *.{ext} files in label folders (0/, 1/, …) under {}",
            dir.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_us: u64, x: u16, y: u16, on: bool) -> Event {
        Event {
            t_us,
            x,
            y,
            polarity: if on { Polarity::On } else { Polarity::Off },
        }
    }

    #[test]
    fn nmnist_bytes_decode_bit_by_bit() {
        // x = 3, y = 33, ON, t = 0x01_02_03 µs; then x = 0, y = 1, OFF, t = 0x7F_FF_FF.
        let bytes = [3, 33, 0x81, 0x02, 0x03, 0, 1, 0x7F, 0xFF, 0xFF];
        let e = parse_nmnist(&bytes, "t").unwrap();
        assert_eq!(
            e,
            vec![ev(0x010203, 3, 33, true), ev(0x7FFFFF, 0, 1, false)]
        );
        let e = parse_nmnist(&bytes[..7], "t.bin").unwrap_err().to_string();
        assert!(
            e.contains("t.bin") && e.contains("not a multiple of 5"),
            "{e}"
        );
    }

    #[test]
    fn nmnist_overflow_markers_shift_later_events() {
        let bytes = [1, 2, 0, 0, 10, 0, 240, 0, 0, 0, 1, 2, 0, 0, 10];
        let e = parse_nmnist(&bytes, "t").unwrap();
        assert_eq!(
            e.iter().map(|e| e.t_us).collect::<Vec<_>>(),
            vec![10, 10 + 8192]
        );
        // Writing long recordings inserts markers and reads back identically.
        let long = vec![
            ev(5, 1, 1, true),
            ev(9_000_000, 2, 2, false),
            ev(20_000_000, 3, 3, true),
        ];
        let b = encode_nmnist(&long).unwrap();
        assert!(b.len() > 15);
        assert_eq!(parse_nmnist(&b, "t").unwrap(), long);
        assert!(encode_nmnist(&[ev(0, 1, 240, true)]).is_err());
        assert!(encode_nmnist(&[ev(0, 300, 1, true)]).is_err());
    }

    #[test]
    fn csv_and_npy_round_trip_and_report_bad_fields() {
        let events = vec![ev(0, 1, 2, true), ev(15, 33, 0, false), ev(15, 0, 33, true)];
        let text = encode_csv(&events);
        assert_eq!(parse_csv(&text, "e.csv").unwrap(), events);
        assert_eq!(
            parse_csv("# c\n0,1,2,1\n15,33,0,-1\n", "e").unwrap()[1],
            events[1]
        );
        let e = parse_csv("t,x,y,p\n0,1,2\n", "e.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("4 comma-separated"),
            "{e}"
        );
        let e = parse_csv("0,1,70000,1\n", "e.csv").unwrap_err().to_string();
        assert!(e.contains("column y") && e.contains("70000"), "{e}");
        let npy = encode_npy(&events).unwrap();
        assert_eq!(parse_npy(&npy, "e.npy").unwrap(), events);
        let e = parse_npy(&npy[..npy.len() - 3], "e.npy")
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.npy"), "{e}");
        let e = parse_npy(b"garbage", "g.npy").unwrap_err().to_string();
        assert!(e.contains("NPY"), "{e}");
    }

    #[test]
    fn files_round_trip_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let s = EventStream::new(34, 34, vec![ev(7, 33, 33, true), ev(3, 0, 5, false)]).unwrap();
        assert_eq!(s.events[0].t_us, 3, "sorted");
        for ext in ["bin", "csv", "npy"] {
            let p = dir.path().join(format!("s.{ext}"));
            s.write(&p).unwrap();
            assert_eq!(EventStream::read(&p, Some((34, 34))).unwrap(), s, "{ext}");
        }
        assert!(EventStream::read(&dir.path().join("s.aedat"), None).is_err());
        assert!(EventStream::new(10, 10, vec![ev(0, 10, 0, true)]).is_err());
        let inferred = EventStream::read(&dir.path().join("s.bin"), None).unwrap();
        assert_eq!((inferred.width, inferred.height), (34, 34));
    }

    #[test]
    fn frames_by_time_duration_and_event_count() {
        let events: Vec<Event> = (0..10)
            .map(|k| ev(k * 100, (k % 2) as u16, 0, k % 3 == 0))
            .collect();
        let s = EventStream::new(2, 1, events).unwrap();
        // 901 µs in 3 bins of 300.3 µs: [0,301), [301,601), [601,901].
        let f = s.to_frames(FrameBinning::TimeBins(3)).unwrap();
        assert_eq!(f.starts_us, vec![0, 301, 601]);
        let per: Vec<f32> = (0..3).map(|k| f.frame(k).iter().sum()).collect();
        assert_eq!(per, vec![4.0, 3.0, 3.0]);
        // Polarity channel: ON events at k = 0, 3, 6, 9.
        let on: f32 = (0..3).map(|k| f.frame(k)[2..].iter().sum::<f32>()).sum();
        assert_eq!(on, 4.0);
        let d = s.to_frames(FrameBinning::BinDurationUs(250)).unwrap();
        assert_eq!(d.n_frames, 4);
        let per: Vec<f32> = (0..4).map(|k| d.frame(k).iter().sum()).collect();
        assert_eq!(per, vec![3.0, 2.0, 3.0, 2.0]);
        let c = s.to_frames(FrameBinning::EventCountBins(4)).unwrap();
        let per: Vec<f32> = (0..4).map(|k| c.frame(k).iter().sum()).collect();
        assert_eq!(per, vec![3.0, 2.0, 3.0, 2.0]);
        assert_eq!(c.data.iter().sum::<f32>(), 10.0);
        assert!(s.to_frames(FrameBinning::TimeBins(0)).is_err());
        let empty = EventStream::new(2, 2, vec![]).unwrap();
        assert_eq!(
            empty.to_frames(FrameBinning::TimeBins(2)).unwrap().data,
            vec![0.0; 16]
        );
    }

    #[test]
    fn spike_trains_and_downsampling() {
        let s = EventStream::new(4, 4, vec![ev(1000, 3, 2, true), ev(2500, 1, 0, false)]).unwrap();
        let t = s.to_spike_trains(500, 10.0);
        assert_eq!(t.n_neurons, 32);
        assert_eq!(t.pairs(), vec![(16 + 2 * 4 + 3, 0.5), (1, 2.0)]);
        let g = t.to_generator();
        assert!(g.validate("g", 32).is_ok());
        let d = s.downsample(2).unwrap();
        assert_eq!((d.width, d.height), (2, 2));
        assert_eq!((d.events[0].x, d.events[0].y), (1, 1));
        assert!(s.downsample(0).is_err());
    }

    #[test]
    fn labelled_folders_are_listed_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        for (l, f) in [(3, "b.bin"), (3, "a.bin"), (0, "z.bin")] {
            let sub = dir.path().join(l.to_string());
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join(f), []).unwrap();
        }
        std::fs::write(dir.path().join("README"), "x").unwrap();
        let files = list_labelled_files(dir.path(), "bin").unwrap();
        let names: Vec<(String, u32)> = files
            .iter()
            .map(|(p, l)| (p.file_name().unwrap().to_string_lossy().into_owned(), *l))
            .collect();
        assert_eq!(
            names,
            vec![
                ("z.bin".into(), 0),
                ("a.bin".into(), 3),
                ("b.bin".into(), 3)
            ]
        );
        assert!(list_labelled_files(&dir.path().join("0"), "bin").is_err());
    }
}
