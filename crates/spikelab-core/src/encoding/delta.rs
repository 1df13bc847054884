//! Delta coding and event-camera emulation: ON/OFF events where the log intensity of
//! a pixel changes, as a dynamic vision sensor (DVS, ATIS) reports them.
//!
//! [`EventSensor`] turns a sequence of frames into events. Between frames the log
//! intensity of each pixel is interpolated linearly; each pixel remembers the log
//! intensity at its last event (its reference) and fires when the signal has moved a
//! contrast threshold `C` away from it:
//!
//! ```text
//! L(t)   = ln(I(t) + ε)                          (I ≥ 0: intensity, ε: dark offset)
//! ON  at the first t with L(t) ≥ L_ref + C,  then L_ref ← L_ref + C
//! OFF at the first t with L(t) ≤ L_ref − C,  then L_ref ← L_ref − C
//! no event within t_ref of the pixel's previous event; an event held back by the
//! refractory period fires when it ends (if the change is still ≥ C) and resets
//! L_ref ← L(t), losing the rest of the change, as the pixel's reset switch does.
//! ```
//!
//! `L_ref` starts at the first frame, which makes no events. Without refractory time
//! the events integrate back to the signal: `L(t) − L(0) − C·(#ON − #OFF) ∈ (−C, C)`
//! for every pixel ([`EventSensor::reconstruct_log`]).
//!
//! [`Saccades`] makes events from a static image the way N-MNIST was recorded
//! (Orchard et al. 2015): the image moves in front of the sensor along three straight
//! saccades forming a triangle, `(0,0) → (A/2, A) → (A, 0) → (0,0)` pixels, each taking
//! `saccade_ms`, rendered with bilinear interpolation onto a canvas `A` pixels larger
//! (28×28 digits with `A = 6` give N-MNIST's 34×34 sensor), one frame every `frame_ms`.
//! Neuron of an event: `polarity · W·H + y · W + x` (OFF block first, then ON).
//!
//! References: Lichtsteiner P, Posch C, Delbruck T (2008) A 128×128 120 dB 15 µs
//! latency asynchronous temporal contrast vision sensor. IEEE JSSC 43:566–576.
//! Orchard G, Jayawant A, Cohen GK, Thakor N (2015) Converting static image datasets
//! to spiking neuromorphic datasets using saccades. Front Neurosci 9:437.

use super::{Encoder, SpikeTrains, TimeGrid};
use crate::error::{check_non_negative, check_positive, Error, Result};
use serde::{Deserialize, Serialize};

/// Sign of a brightness change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// Darker (log intensity fell by the threshold).
    Off = 0,
    /// Brighter (log intensity rose by the threshold).
    On = 1,
}

/// One address event of an event camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event {
    /// Timestamp (µs).
    pub t_us: u64,
    /// Column (0 = left).
    pub x: u16,
    /// Row (0 = top).
    pub y: u16,
    /// ON or OFF.
    pub polarity: Polarity,
}

impl Event {
    /// The neuron index of this event on a `width × height` sensor:
    /// `polarity · width · height + y · width + x`.
    #[inline]
    pub fn neuron(&self, width: usize, height: usize) -> u32 {
        (self.polarity as usize * width * height + self.y as usize * width + self.x as usize) as u32
    }
}

/// Spike trains of the events of a `width × height` sensor (`2·W·H` neurons, see
/// [`Event::neuron`]), times relative to `t0_us`; events before `t0_us`, outside the
/// sensor, or at or after `duration_ms` are dropped.
pub fn events_to_trains(
    events: &[Event],
    width: usize,
    height: usize,
    t0_us: u64,
    duration_ms: f64,
) -> SpikeTrains {
    let mut out = SpikeTrains::new(2 * width * height, duration_ms);
    for e in events {
        if e.t_us < t0_us || e.x as usize >= width || e.y as usize >= height {
            continue;
        }
        let t = (e.t_us - t0_us) as f64 / 1000.0;
        if t < duration_ms {
            out.push(e.neuron(width, height), t);
        }
    }
    out.sort();
    out
}

/// Event-camera emulation from frames (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSensor {
    /// Contrast threshold `C` (change of natural-log intensity per event, > 0).
    pub threshold: f64,
    /// Refractory time of a pixel after an event `t_ref` (ms, >= 0).
    pub refractory_ms: f64,
    /// Dark offset `ε` added before the logarithm (intensity units, > 0).
    pub log_offset: f64,
}

impl Default for EventSensor {
    fn default() -> Self {
        EventSensor {
            threshold: 0.2,
            refractory_ms: 0.0,
            log_offset: 0.1,
        }
    }
}

impl EventSensor {
    /// A sensor with contrast threshold `threshold` and refractory time `refractory_ms`.
    pub fn new(threshold: f64, refractory_ms: f64) -> Result<Self> {
        let e = EventSensor {
            threshold,
            refractory_ms,
            ..Default::default()
        };
        e.validate("sensor")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the sensor in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_positive(&format!("{field}.threshold"), self.threshold)?;
        check_non_negative(&format!("{field}.refractory_ms"), self.refractory_ms)?;
        check_positive(&format!("{field}.log_offset"), self.log_offset)
    }

    /// `L = ln(I + ε)` of an intensity (negative and NaN read as 0).
    #[inline]
    pub fn log_intensity(&self, i: f32) -> f64 {
        let i = if i.is_nan() { 0.0 } else { (i as f64).max(0.0) };
        (i + self.log_offset).ln()
    }

    /// Events of a `width × height` pixel array from `frames` (`n_frames × height ×
    /// width`, row-major) taken at `times_ms` (strictly increasing, >= 0), sorted by
    /// time.
    pub fn events_from_frames(
        &self,
        frames: &[f32],
        width: usize,
        height: usize,
        times_ms: &[f64],
    ) -> Result<Vec<Event>> {
        self.validate("sensor")?;
        let n_pix = width * height;
        if width > u16::MAX as usize + 1 || height > u16::MAX as usize + 1 {
            return Err(Error::field(
                "frames",
                format!("{width}×{height} is larger than the 65536×65536 event address space"),
            ));
        }
        if frames.len() != times_ms.len() * n_pix {
            return Err(Error::field(
                "frames",
                format!(
                    "has {} values but {} frames × {width}×{height} pixels = {}",
                    frames.len(),
                    times_ms.len(),
                    times_ms.len() * n_pix
                ),
            ));
        }
        if let Some(k) = (0..times_ms.len()).find(|&k| {
            !(times_ms[k].is_finite() && times_ms[k] >= 0.0)
                || (k > 0 && times_ms[k] <= times_ms[k - 1])
        }) {
            return Err(Error::field(
                format!("times_ms[{k}]"),
                format!(
                    "frame times must be finite, >= 0 and strictly increasing (got {})",
                    times_ms[k]
                ),
            ));
        }
        let logs: Vec<f64> = frames.iter().map(|&i| self.log_intensity(i)).collect();
        let mut events = Vec::new();
        let mut series = vec![0f64; times_ms.len()];
        for p in 0..n_pix {
            for (k, l) in series.iter_mut().enumerate() {
                *l = logs[k * n_pix + p];
            }
            let (x, y) = ((p % width) as u16, (p / width) as u16);
            self.pixel_events(&series, times_ms, |t_ms, polarity| {
                events.push(Event {
                    t_us: (t_ms * 1000.0).round() as u64,
                    x,
                    y,
                    polarity,
                })
            });
        }
        events.sort_unstable();
        Ok(events)
    }

    /// Events of one pixel with log intensity `logs[k]` at `times[k]` (see the module
    /// documentation for the model).
    fn pixel_events(&self, logs: &[f64], times: &[f64], mut emit: impl FnMut(f64, Polarity)) {
        let c = self.threshold;
        // Crossings within 1e-9·C count as reached, so that a signal returning exactly
        // to a reference level fires regardless of rounding.
        let tol = 1e-9 * c;
        let Some(&first) = logs.first() else {
            return;
        };
        let mut reference = first;
        let mut last = f64::NEG_INFINITY;
        for k in 1..logs.len() {
            let (ta, tb, la, lb) = (times[k - 1], times[k], logs[k - 1], logs[k]);
            let at = |t: f64| la + (lb - la) * ((t - ta) / (tb - ta));
            let mut t_cur = ta;
            loop {
                let t_early = t_cur.max(last + self.refractory_ms);
                if t_early > tb {
                    break;
                }
                let l_early = at(t_early);
                if (l_early - reference).abs() >= c - tol {
                    // A change held back by the refractory period: fire now, reset.
                    let pol = if l_early > reference {
                        Polarity::On
                    } else {
                        Polarity::Off
                    };
                    emit(t_early, pol);
                    reference = l_early;
                    (last, t_cur) = (t_early, t_early);
                    continue;
                }
                let (level, pol) = if lb >= reference + c - tol {
                    (reference + c, Polarity::On)
                } else if lb <= reference - c + tol {
                    (reference - c, Polarity::Off)
                } else {
                    break;
                };
                let t_cross = (ta + (level - la) / (lb - la) * (tb - ta)).clamp(t_early, tb);
                emit(t_cross, pol);
                reference = level;
                (last, t_cur) = (t_cross, t_cross);
            }
        }
    }

    /// The log intensity each pixel's events integrate to:
    /// `L̂ = L(first frame) + C·(#ON − #OFF)` (exact to within `C` without refractory
    /// time). `initial` is the first frame (`height × width` intensities).
    pub fn reconstruct_log(
        &self,
        events: &[Event],
        width: usize,
        height: usize,
        initial: &[f32],
    ) -> Vec<f64> {
        let mut l: Vec<f64> = (0..width * height)
            .map(|p| self.log_intensity(initial.get(p).copied().unwrap_or(0.0)))
            .collect();
        for e in events {
            if (e.x as usize) < width && (e.y as usize) < height {
                let p = e.y as usize * width + e.x as usize;
                l[p] += match e.polarity {
                    Polarity::On => self.threshold,
                    Polarity::Off => -self.threshold,
                };
            }
        }
        l
    }
}

/// Event-camera recording of a static image moved along three saccades, as N-MNIST
/// was made (see the module documentation). As an [`Encoder`] its input is one image
/// (`height × width` intensities; missing pixels read as 0, extra ones are ignored)
/// and its outputs are `2 × canvas` neurons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Saccades {
    /// Image width (pixels, >= 1).
    pub width: usize,
    /// Image height (pixels, >= 1).
    pub height: usize,
    /// Size of the triangle `A` (pixels, >= 0); the canvas is `⌈A⌉` pixels larger.
    pub amplitude_px: f64,
    /// Duration of each of the three saccades (ms, > 0).
    pub saccade_ms: f64,
    /// Time between rendered frames (ms, > 0).
    pub frame_ms: f64,
    /// The emulated sensor.
    pub sensor: EventSensor,
}

impl Default for Saccades {
    fn default() -> Self {
        Saccades {
            width: 28,
            height: 28,
            amplitude_px: 6.0,
            saccade_ms: 100.0,
            frame_ms: 1.0,
            sensor: EventSensor::default(),
        }
    }
}

impl Saccades {
    /// N-MNIST-like saccades for a `width × height` image.
    pub fn new(width: usize, height: usize) -> Result<Self> {
        let e = Saccades {
            width,
            height,
            ..Default::default()
        };
        e.validate("encoder")?;
        Ok(e)
    }

    /// Checks the parameters; `field` names the encoder in error messages.
    pub fn validate(&self, field: &str) -> Result<()> {
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > 4096 {
                return Err(Error::field(
                    format!("{field}.{name}"),
                    format!("must be in 1..=4096 pixels (got {v})"),
                ));
            }
        }
        check_non_negative(&format!("{field}.amplitude_px"), self.amplitude_px)?;
        if self.amplitude_px > 1024.0 {
            return Err(Error::field(
                format!("{field}.amplitude_px"),
                format!("must be at most 1024 pixels (got {})", self.amplitude_px),
            ));
        }
        check_positive(&format!("{field}.saccade_ms"), self.saccade_ms)?;
        check_positive(&format!("{field}.frame_ms"), self.frame_ms)?;
        if self.saccade_ms / self.frame_ms > 100_000.0 {
            return Err(Error::field(
                format!("{field}.frame_ms"),
                "gives more than 100000 frames per saccade; use longer frames",
            ));
        }
        self.sensor.validate(&format!("{field}.sensor"))
    }

    /// Sensor size `(width, height)`: the image plus `⌈A⌉` pixels.
    pub fn canvas(&self) -> (usize, usize) {
        let pad = self.amplitude_px.ceil() as usize;
        (self.width + pad, self.height + pad)
    }

    /// Length of the recording: three saccades (ms).
    pub fn duration_ms(&self) -> f64 {
        3.0 * self.saccade_ms
    }

    /// Image offset `(dx, dy)` (pixels) at time `t_ms` along the triangle.
    pub fn offset_at(&self, t_ms: f64) -> (f64, f64) {
        let a = self.amplitude_px;
        let vertices = [(0.0, 0.0), (a / 2.0, a), (a, 0.0), (0.0, 0.0)];
        let s = (t_ms / self.saccade_ms).clamp(0.0, 3.0);
        let leg = (s.floor() as usize).min(2);
        let f = s - leg as f64;
        let (p, q) = (vertices[leg], vertices[leg + 1]);
        (p.0 + (q.0 - p.0) * f, p.1 + (q.1 - p.1) * f)
    }

    /// The canvas frame with the image shifted by `(dx, dy)` (bilinear, 0 outside).
    fn render(&self, image: &[f32], dx: f64, dy: f64, out: &mut [f32]) {
        let (cw, ch) = self.canvas();
        let (w, h) = (self.width as i64, self.height as i64);
        let pix = |x: i64, y: i64| -> f32 {
            if x < 0 || y < 0 || x >= w || y >= h {
                0.0
            } else {
                let v = image.get((y * w + x) as usize).copied().unwrap_or(0.0);
                if v.is_nan() {
                    0.0
                } else {
                    v
                }
            }
        };
        let (fx, fy) = (dx.floor(), dy.floor());
        let (ax, ay) = ((dx - fx) as f32, (dy - fy) as f32);
        let (ix, iy) = (fx as i64, fy as i64);
        for cy in 0..ch as i64 {
            for cx in 0..cw as i64 {
                // Image coordinate u = cx − dx lies between cx − ix − 1 and cx − ix.
                let (u0, v0) = (cx - ix, cy - iy);
                let v = (1.0 - ax) * (1.0 - ay) * pix(u0, v0)
                    + ax * (1.0 - ay) * pix(u0 - 1, v0)
                    + (1.0 - ax) * ay * pix(u0, v0 - 1)
                    + ax * ay * pix(u0 - 1, v0 - 1);
                out[cy as usize * cw + cx as usize] = v;
            }
        }
    }

    /// The events of one image (`height × width` intensities), sorted by time.
    pub fn events(&self, image: &[f32]) -> Result<Vec<Event>> {
        self.validate("encoder")?;
        if image.len() != self.width * self.height {
            return Err(Error::field(
                "image",
                format!(
                    "has {} pixels but width × height = {}×{} = {}",
                    image.len(),
                    self.width,
                    self.height,
                    self.width * self.height
                ),
            ));
        }
        Ok(self.events_unchecked(image))
    }

    fn events_unchecked(&self, image: &[f32]) -> Vec<Event> {
        let (cw, ch) = self.canvas();
        let n_frames = (self.duration_ms() / self.frame_ms).ceil() as usize + 1;
        let times: Vec<f64> = (0..n_frames)
            .map(|k| (k as f64 * self.frame_ms).min(self.duration_ms()))
            .collect();
        let mut frames = vec![0f32; n_frames * cw * ch];
        for (k, &t) in times.iter().enumerate() {
            let (dx, dy) = self.offset_at(t);
            self.render(image, dx, dy, &mut frames[k * cw * ch..(k + 1) * cw * ch]);
        }
        // Valid by construction: sizes match, times strictly increase (the last one is
        // clamped to the duration only when the step overshoots, which keeps it larger).
        self.sensor
            .events_from_frames(&frames, cw, ch, &times)
            .unwrap_or_default()
    }
}

impl Encoder for Saccades {
    fn name(&self) -> &'static str {
        "saccades"
    }

    fn n_outputs(&self, _n_inputs: usize) -> usize {
        let (cw, ch) = self.canvas();
        2 * cw * ch
    }

    fn encode(&self, values: &[f32], grid: &TimeGrid, _seed: u64, _sample: u64) -> SpikeTrains {
        let (cw, ch) = self.canvas();
        let events = self.events_unchecked(values);
        events_to_trains(&events, cw, ch, 0, grid.duration_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(c: f64, refr: f64) -> EventSensor {
        EventSensor {
            threshold: c,
            refractory_ms: refr,
            log_offset: 0.01,
        }
    }

    #[test]
    fn a_brightness_ramp_gives_on_events_at_the_threshold_crossings() {
        // One pixel whose log intensity rises at 0.1 per ms to 1.125, then falls to
        // −0.125: ON at 0.25, 0.5, 0.75, 1.0, then OFF at 0.75 … 0.0 below the reference.
        let s = sensor(0.25, 0.0);
        let l = |v: f64| (v.exp() - 0.01) as f32;
        let frames = [l(0.0), l(1.125), l(-0.125)];
        let ev = s
            .events_from_frames(&frames, 1, 1, &[0.0, 11.25, 23.75])
            .unwrap();
        let on: Vec<u64> = ev
            .iter()
            .filter(|e| e.polarity == Polarity::On)
            .map(|e| e.t_us)
            .collect();
        let off: Vec<u64> = ev
            .iter()
            .filter(|e| e.polarity == Polarity::Off)
            .map(|e| e.t_us)
            .collect();
        assert_eq!(on, vec![2500, 5000, 7500, 10000]);
        assert_eq!(off, vec![15000, 17500, 20000, 22500]);
    }

    #[test]
    fn refractory_time_spaces_events_and_resets_the_reference() {
        // Log intensity jumps by 1.0 within one 1-ms frame: 4 crossings at C = 0.25,
        // but with 5 ms refractory only the first fires, the rest is lost.
        let s = sensor(0.25, 5.0);
        let l = |v: f64| (v.exp() - 0.01) as f32;
        let frames = [l(0.0), l(1.0), l(1.0), l(1.0)];
        let ev = s
            .events_from_frames(&frames, 1, 1, &[0.0, 1.0, 10.0, 20.0])
            .unwrap();
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(ev[0].t_us, 250);
        // Held-back change (0.75 ≥ C) fires when the refractory period ends.
        assert_eq!(ev[1].t_us, 5250);
        for w in ev.windows(2) {
            assert!(w[1].t_us - w[0].t_us >= 5000);
        }
    }

    #[test]
    fn events_integrate_back_to_the_log_intensity() {
        let s = sensor(0.15, 0.0);
        let (w, h, n) = (5, 4, 30);
        let frames: Vec<f32> = (0..n * w * h)
            .map(|k| {
                let (f, p) = (k / (w * h), k % (w * h));
                (0.5 + 0.45 * ((f as f32) * 0.3 + p as f32).sin()).max(0.0)
            })
            .collect();
        let times: Vec<f64> = (0..n).map(|k| k as f64 * 2.0).collect();
        let ev = s.events_from_frames(&frames, w, h, &times).unwrap();
        assert!(
            ev.windows(2).all(|p| p[0].t_us <= p[1].t_us),
            "sorted by time"
        );
        let rec = s.reconstruct_log(&ev, w, h, &frames[..w * h]);
        for p in 0..w * h {
            let truth = s.log_intensity(frames[(n - 1) * w * h + p]);
            assert!(
                (rec[p] - truth).abs() < 0.15 + 1e-9,
                "pixel {p}: {} vs {truth}",
                rec[p]
            );
        }
        assert!(s.events_from_frames(&frames, w, h, &times[1..]).is_err());
        let mut bad = times.clone();
        bad[3] = bad[2];
        assert!(s.events_from_frames(&frames, w, h, &bad).is_err());
    }

    #[test]
    fn saccades_follow_the_triangle_and_return_every_pixel_to_balance() {
        let sac = Saccades {
            width: 8,
            height: 8,
            amplitude_px: 3.0,
            saccade_ms: 20.0,
            frame_ms: 0.5,
            sensor: sensor(0.2, 0.0),
        };
        assert_eq!(sac.offset_at(0.0), (0.0, 0.0));
        assert_eq!(sac.offset_at(20.0), (1.5, 3.0));
        assert_eq!(sac.offset_at(40.0), (3.0, 0.0));
        assert_eq!(sac.offset_at(60.0), (0.0, 0.0));
        // A bright square on a dark background.
        let img: Vec<f32> = (0..64)
            .map(|k| {
                if (2..6).contains(&(k % 8)) && (2..6).contains(&(k / 8)) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let ev = sac.events(&img).unwrap();
        assert!(ev.len() > 50, "{} events", ev.len());
        assert!(ev.iter().all(|e| e.x < 11 && e.y < 11 && e.t_us <= 60_000));
        // The motion is a closed loop: each pixel ends where it started, so without
        // refractory time its ON and OFF counts are equal.
        let mut bal = vec![0i64; 121];
        for e in &ev {
            bal[e.y as usize * 11 + e.x as usize] +=
                if e.polarity == Polarity::On { 1 } else { -1 };
        }
        assert!(bal.iter().all(|&b| b == 0), "{bal:?}");
        // Pixels that never see an edge stay silent: the far corner (10, 0) only ever
        // shows background.
        assert!(!ev.iter().any(|e| e.x == 10 && e.y == 0));
        // As an encoder: 2 × 11 × 11 neurons, spikes = events in the window.
        let grid = TimeGrid::new(600, 0.1).unwrap();
        let trains = sac.encode(&img, &grid, 0, 0);
        assert_eq!(sac.n_outputs(64), 242);
        assert_eq!(trains.len(), ev.iter().filter(|e| e.t_us < 60_000).count());
        assert!(sac.events(&img[1..]).is_err());
    }
}

/// Level-crossing (send-on-delta) coding of a sampled real-valued series, for time
/// series rather than images: `values` holds `steps × channels` samples (step-major);
/// each channel keeps a reference level, starting at its first sample, and at every
/// later step emits an UP spike (output `2c`) when the sample has risen at least
/// `threshold` above the reference or a DOWN spike (output `2c + 1`) when it has
/// fallen as far, the reference moving by every whole `threshold` crossed. So the
/// reference follows the signal within `threshold`: `|x_t − ref_t| < threshold`.
/// `out` receives `steps × 2·channels` bytes (0 or 1).
///
/// # Panics
/// If `values` does not hold `steps × channels` samples or `out` `steps × 2·channels`
/// bytes, or `threshold` is not > 0.
pub fn send_on_delta(
    values: &[f32],
    steps: usize,
    channels: usize,
    threshold: f32,
    out: &mut [u8],
) {
    assert_eq!(values.len(), steps * channels, "send_on_delta: values");
    assert_eq!(out.len(), steps * 2 * channels, "send_on_delta: output");
    assert!(threshold > 0.0, "send_on_delta: threshold must be > 0");
    out.fill(0);
    if steps == 0 {
        return;
    }
    let mut reference: Vec<f32> = values[..channels].to_vec();
    for t in 1..steps {
        for c in 0..channels {
            let d = values[t * channels + c] - reference[c];
            let k = (d.abs() / threshold).floor();
            if k >= 1.0 {
                let up = d > 0.0;
                out[t * 2 * channels + 2 * c + usize::from(!up)] = 1;
                reference[c] += if up { k * threshold } else { -k * threshold };
            }
        }
    }
}

#[cfg(test)]
mod send_on_delta_tests {
    use super::send_on_delta;

    #[test]
    fn a_ramp_gives_regular_up_spikes_and_the_reference_tracks_the_signal() {
        // Channel 0 rises by 0.25 per step, channel 1 is constant, threshold 0.5.
        let steps = 9;
        let values: Vec<f32> = (0..steps).flat_map(|t| [0.25 * t as f32, 0.7]).collect();
        let mut out = vec![0u8; steps * 4];
        send_on_delta(&values, steps, 2, 0.5, &mut out);
        let up: Vec<u8> = (0..steps).map(|t| out[t * 4]).collect();
        assert_eq!(up, [0, 0, 1, 0, 1, 0, 1, 0, 1]);
        assert!(
            (0..steps).all(|t| out[t * 4 + 1] == 0 && out[t * 4 + 2] == 0 && out[t * 4 + 3] == 0)
        );
        // A fall of 1.2 at once: one DOWN spike, the reference two levels lower.
        let values = [1.0f32, -0.2, -0.2];
        let mut out = vec![0u8; 6];
        send_on_delta(&values, 3, 1, 0.5, &mut out);
        assert_eq!(out, [0, 0, 0, 1, 0, 0]);
    }
}
