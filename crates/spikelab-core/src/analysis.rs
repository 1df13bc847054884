//! Spike-train statistics over recorded spikes: mean firing rates, the coefficient of
//! variation of inter-spike intervals, the Fano factor of binned counts and the
//! population PSTH. This is the one implementation the Python bindings and the CLI
//! call; every argument is validated here and a bad one is reported by name.
//!
//! Spikes are two parallel slices, `times_ms` and `neurons` (index within a population
//! of `n_neurons`), in any order. Windows are half-open, `[t_start_ms, t_stop_ms)`;
//! spikes outside the window are ignored.

use crate::error::{check_finite, check_positive, Error, Result};

/// Most bins one [`fano_factor`] or [`psth`] call may use (guards against a `bin_ms`
/// tiny compared with the window).
pub const MAX_BINS: usize = 10_000_000;

/// Relative tolerance, in bins, under which a window holds a whole number of bins
/// (300 ms of 100 ms bins is 3 bins despite rounding).
const BIN_TOLERANCE: f64 = 1e-9;

/// Mean firing rate of each neuron over [t_start_ms, t_stop_ms) in Hz.
pub fn firing_rates_hz(
    times_ms: &[f64],
    neurons: &[u32],
    n_neurons: usize,
    t_start_ms: f64,
    t_stop_ms: f64,
) -> Result<Vec<f64>> {
    check_spikes(times_ms, neurons, n_neurons)?;
    let width_s = check_window(t_start_ms, t_stop_ms)? / 1000.0;
    let mut rates = vec![0.0; n_neurons];
    for (&t, &n) in times_ms.iter().zip(neurons) {
        if in_window(t, t_start_ms, t_stop_ms) {
            rates[n as usize] += 1.0;
        }
    }
    rates.iter_mut().for_each(|r| *r /= width_s);
    Ok(rates)
}

/// Coefficient of variation of the inter-spike intervals of each neuron (std/mean of
/// its ISIs, population std i.e. divide by count); NaN for a neuron with fewer than 2
/// ISIs (and where all its ISIs are 0). Uses every spike, whatever its time.
pub fn isi_cv(times_ms: &[f64], neurons: &[u32], n_neurons: usize) -> Result<Vec<f64>> {
    check_spikes(times_ms, neurons, n_neurons)?;
    let mut by_neuron = ByNeuron::group(neurons, n_neurons, |k| Some(times_ms[k]));
    let cvs = (0..n_neurons)
        .map(|i| {
            let times = by_neuron.row_mut(i);
            times.sort_unstable_by(f64::total_cmp);
            cv_of_sorted(times)
        })
        .collect();
    Ok(cvs)
}

/// Fano factor (variance / mean of spike counts in consecutive bins of bin_ms over
/// [t_start_ms, t_stop_ms), population variance) of each neuron; NaN where the mean
/// count is 0. Only whole bins are used.
pub fn fano_factor(
    times_ms: &[f64],
    neurons: &[u32],
    n_neurons: usize,
    t_start_ms: f64,
    t_stop_ms: f64,
    bin_ms: f64,
) -> Result<Vec<f64>> {
    check_spikes(times_ms, neurons, n_neurons)?;
    let width_ms = check_window(t_start_ms, t_stop_ms)?;
    let (n_bins, _) = bin_layout(width_ms, bin_ms)?;
    if n_bins == 0 {
        return Err(Error::field(
            "bin_ms",
            format!(
                "must be at most the window t_stop_ms - t_start_ms = {width_ms} ms (got {bin_ms})"
            ),
        ));
    }
    let t_end = (t_start_ms + n_bins as f64 * bin_ms).min(t_stop_ms);
    let by_neuron = ByNeuron::group(neurons, n_neurons, |k| {
        let t = times_ms[k];
        in_window(t, t_start_ms, t_end).then(|| bin_index(t, t_start_ms, bin_ms, n_bins) as u32)
    });
    let mut counts = vec![0u64; n_bins];
    Ok((0..n_neurons)
        .map(|i| fano_of_bins(by_neuron.row(i), &mut counts))
        .collect())
}

/// Peri-stimulus time histogram: population rate (spikes per neuron per second, Hz) in
/// consecutive bins of bin_ms from t_start_ms; the last bin may be partial and is
/// normalised by its own width. Returns (bin_start_ms, rate_hz).
pub fn psth(
    times_ms: &[f64],
    n_neurons: usize,
    t_start_ms: f64,
    t_stop_ms: f64,
    bin_ms: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    check_n_neurons(n_neurons)?;
    check_times(times_ms)?;
    let width_ms = check_window(t_start_ms, t_stop_ms)?;
    let (whole, partial) = bin_layout(width_ms, bin_ms)?;
    let n_bins = whole + usize::from(partial);
    let starts: Vec<f64> = (0..n_bins)
        .map(|k| t_start_ms + k as f64 * bin_ms)
        .collect();
    let mut rates = vec![0.0; n_bins];
    for &t in times_ms {
        if in_window(t, t_start_ms, t_stop_ms) {
            rates[bin_index(t, t_start_ms, bin_ms, n_bins)] += 1.0;
        }
    }
    for (k, rate) in rates.iter_mut().enumerate() {
        let bin_width_ms = if k == whole {
            t_stop_ms - starts[k]
        } else {
            bin_ms
        };
        *rate = *rate * 1000.0 / (n_neurons as f64 * bin_width_ms);
    }
    Ok((starts, rates))
}

/// Values of the kept spikes grouped by neuron (CSR, by counting sort): neuron `i`'s
/// are `values[offsets[i]..offsets[i + 1]]`.
struct ByNeuron<T> {
    offsets: Vec<usize>,
    values: Vec<T>,
}

impl<T: Copy + Default> ByNeuron<T> {
    /// Groups `value(k)` of every spike `k` for which it is `Some`; neuron indices must
    /// already be checked against `n_neurons`.
    fn group(neurons: &[u32], n_neurons: usize, value: impl Fn(usize) -> Option<T>) -> Self {
        let mut offsets = vec![0usize; n_neurons + 1];
        for (k, &n) in neurons.iter().enumerate() {
            if value(k).is_some() {
                offsets[n as usize] += 1;
            }
        }
        // Running sums make offsets[i] the end of row i; filling counts each back down
        // to the row's start.
        let mut end = 0;
        for o in &mut offsets[..n_neurons] {
            end += *o;
            *o = end;
        }
        offsets[n_neurons] = end;
        let mut values = vec![T::default(); end];
        for (k, &n) in neurons.iter().enumerate() {
            if let Some(v) = value(k) {
                let o = &mut offsets[n as usize];
                *o -= 1;
                values[*o] = v;
            }
        }
        Self { offsets, values }
    }

    fn row(&self, i: usize) -> &[T] {
        &self.values[self.offsets[i]..self.offsets[i + 1]]
    }

    fn row_mut(&mut self, i: usize) -> &mut [T] {
        &mut self.values[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// CV of the intervals of sorted spike times; NaN with fewer than 2 intervals.
fn cv_of_sorted(times: &[f64]) -> f64 {
    if times.len() < 3 {
        return f64::NAN;
    }
    let n = (times.len() - 1) as f64;
    let mean = (times[times.len() - 1] - times[0]) / n;
    let var = times
        .windows(2)
        .map(|w| (w[1] - w[0] - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt() / mean
}

/// Fano factor of one neuron from the bin index of each of its spikes; `counts` is
/// zeroed scratch of one entry per bin and is left zeroed.
fn fano_of_bins(bins: &[u32], counts: &mut [u64]) -> f64 {
    if bins.is_empty() {
        return f64::NAN;
    }
    // Σc² grows by 2c + 1 each time a count c goes up by one.
    let mut sum_sq = 0u128;
    for &b in bins {
        let c = &mut counts[b as usize];
        sum_sq += 2 * u128::from(*c) + 1;
        *c += 1;
    }
    bins.iter().for_each(|&b| counts[b as usize] = 0);
    // var / mean = (n Σc² − (Σc)²) / (n Σc), exact in integers (n Σc² ≥ (Σc)²).
    let (n, sum) = (counts.len() as u128, bins.len() as u128);
    (n * sum_sq - sum * sum) as f64 / (n * sum) as f64
}

fn in_window(t: f64, t_start_ms: f64, t_stop_ms: f64) -> bool {
    t >= t_start_ms && t < t_stop_ms
}

/// Bin of a time `t >= t_start_ms`, clamped to the last bin against rounding.
fn bin_index(t: f64, t_start_ms: f64, bin_ms: f64, n_bins: usize) -> usize {
    (((t - t_start_ms) / bin_ms) as usize).min(n_bins - 1)
}

/// Whole bins of `bin_ms` in the window and whether a partial bin follows (always when
/// there is no whole bin).
fn bin_layout(width_ms: f64, bin_ms: f64) -> Result<(usize, bool)> {
    check_positive("bin_ms", bin_ms)?;
    let ratio = width_ms / bin_ms;
    let tolerance = BIN_TOLERANCE * ratio.max(1.0);
    let whole = (ratio + tolerance).floor();
    let partial = whole == 0.0 || ratio - whole > tolerance;
    if whole + f64::from(u8::from(partial)) > MAX_BINS as f64 {
        return Err(Error::field(
            "bin_ms",
            format!("gives about {ratio:.0} bins over the {width_ms} ms window but at most {MAX_BINS} are allowed (got {bin_ms}; use a larger bin)"),
        ));
    }
    Ok((whole as usize, partial))
}

fn check_n_neurons(n_neurons: usize) -> Result<()> {
    if n_neurons == 0 {
        return Err(Error::field("n_neurons", "must be at least 1 (got 0)"));
    }
    Ok(())
}

fn check_times(times_ms: &[f64]) -> Result<()> {
    match times_ms.iter().position(|t| !t.is_finite()) {
        Some(i) => Err(Error::field(
            "times_ms",
            format!(
                "every spike time must be a finite number (times_ms[{i}] = {})",
                times_ms[i]
            ),
        )),
        None => Ok(()),
    }
}

fn check_spikes(times_ms: &[f64], neurons: &[u32], n_neurons: usize) -> Result<()> {
    check_n_neurons(n_neurons)?;
    if neurons.len() != times_ms.len() {
        return Err(Error::field(
            "neurons",
            format!(
                "must have one entry per spike time: got {} neurons for {} times_ms",
                neurons.len(),
                times_ms.len()
            ),
        ));
    }
    check_times(times_ms)?;
    match neurons.iter().position(|&n| n as usize >= n_neurons) {
        Some(i) => Err(Error::field(
            "neurons",
            format!(
                "every index must be < n_neurons = {n_neurons} (neurons[{i}] = {})",
                neurons[i]
            ),
        )),
        None => Ok(()),
    }
}

/// Checks the window and returns its width in ms.
fn check_window(t_start_ms: f64, t_stop_ms: f64) -> Result<f64> {
    check_finite("t_start_ms", t_start_ms)?;
    let width_ms = t_stop_ms - t_start_ms;
    if !(t_stop_ms.is_finite() && width_ms > 0.0 && width_ms.is_finite()) {
        return Err(Error::field(
            "t_stop_ms",
            format!("must be a finite number > t_start_ms = {t_start_ms} (got {t_stop_ms})"),
        ));
    }
    Ok(width_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Domain};
    use rand_distr::{Distribution, Exp};

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    /// Neuron 0 fires at 0, 10, ..., 990 ms; neuron 1 at 5, 15, ..., 995 ms.
    fn regular() -> (Vec<f64>, Vec<u32>) {
        let times = (0..100).flat_map(|k| [10.0 * k as f64, 10.0 * k as f64 + 5.0]);
        (times.collect(), (0..200).map(|k| k % 2).collect())
    }

    /// Exponential ISIs at `rate_hz` for `n` neurons over [0, duration_ms).
    fn poisson(n: usize, rate_hz: f64, duration_ms: f64, seed: u64) -> (Vec<f64>, Vec<u32>) {
        let isi = Exp::new(rate_hz / 1000.0).unwrap();
        let (mut times, mut neurons) = (Vec::new(), Vec::new());
        for i in 0..n {
            let mut rng = stream(seed, Domain::Source, &[i as u64]);
            let mut t = isi.sample(&mut rng);
            while t < duration_ms {
                times.push(t);
                neurons.push(i as u32);
                t += isi.sample(&mut rng);
            }
        }
        (times, neurons)
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn regular_train_has_rate_100_hz_cv_0_and_fano_0() {
        let (t, n) = regular();
        assert_eq!(firing_rates_hz(&t, &n, 2, 0.0, 1000.0).unwrap(), [100.0; 2]);
        assert_eq!(isi_cv(&t, &n, 2).unwrap(), [0.0; 2]);
        for bin in [10.0, 50.0, 100.0, 1000.0] {
            assert_eq!(fano_factor(&t, &n, 2, 0.0, 1000.0, bin).unwrap(), [0.0; 2]);
        }
        let (starts, rates) = psth(&t, 2, 0.0, 1000.0, 100.0).unwrap();
        assert_eq!(
            starts,
            (0..10).map(|k| 100.0 * k as f64).collect::<Vec<_>>()
        );
        assert_eq!(rates, [100.0; 10]);
    }

    #[test]
    fn poisson_trains_have_rate_20_hz_cv_1_and_fano_1() {
        let (t, n) = poisson(200, 20.0, 50_000.0, 42);
        let rates = firing_rates_hz(&t, &n, 200, 0.0, 50_000.0).unwrap();
        let cvs = isi_cv(&t, &n, 200).unwrap();
        let fanos = fano_factor(&t, &n, 200, 0.0, 50_000.0, 100.0).unwrap();
        let (r, cv, ff) = (mean(&rates), mean(&cvs), mean(&fanos));
        assert!((r - 20.0).abs() < 0.03 * 20.0, "mean rate {r}");
        assert!((cv - 1.0).abs() < 0.05, "mean CV {cv}");
        assert!((ff - 1.0).abs() < 0.1, "mean Fano {ff}");
    }

    #[test]
    fn psth_recovers_counts_and_normalises_the_partial_last_bin() {
        let (t, _) = poisson(50, 20.0, 2000.0, 7);
        let (start, stop, bin) = (100.0, 1050.0, 100.0);
        let (starts, rates) = psth(&t, 50, start, stop, bin).unwrap();
        assert_eq!(starts.len(), 10);
        assert_eq!(starts[9], 1000.0);
        let widths = |k: usize| if k == 9 { 50.0 } else { bin };
        let recovered: f64 = (0..10).map(|k| rates[k] * widths(k) * 50.0 / 1000.0).sum();
        let in_window = t.iter().filter(|&&x| (start..stop).contains(&x)).count();
        assert!(
            (recovered - in_window as f64).abs() < 1e-9,
            "{recovered} vs {in_window}"
        );
        for (k, &rate) in rates.iter().enumerate() {
            let lo = starts[k];
            let hi = (lo + bin).min(stop);
            let count = t.iter().filter(|&&x| x >= lo && x < hi).count() as f64;
            assert!((rate - count / (50.0 * widths(k) / 1000.0)).abs() < 1e-9);
        }
    }

    #[test]
    fn psth_small_case_by_hand() {
        // 2 neurons, bins [0,10) [10,20) [20,25): counts 2, 1, 2; -1, 25, 30 are outside.
        let t = [22.0, 0.0, 25.0, 12.0, -1.0, 5.0, 21.0, 30.0];
        let (starts, rates) = psth(&t, 2, 0.0, 25.0, 10.0).unwrap();
        assert_eq!(starts, [0.0, 10.0, 20.0]);
        assert_eq!(rates, [100.0, 50.0, 200.0]);
        // A bin wider than the window is one partial bin.
        let (starts, rates) = psth(&t, 2, 0.0, 25.0, 40.0).unwrap();
        assert_eq!((starts, rates), (vec![0.0], vec![100.0]));
        // 0.3 ms of 0.1 ms bins is 3 whole bins, not 3 plus a sliver.
        assert_eq!(psth(&[], 1, 0.0, 0.3, 0.1).unwrap().0.len(), 3);
    }

    #[test]
    fn firing_rates_small_case_by_hand() {
        // Window [0, 500) ms: neuron 0 fires 3 times (6 Hz), neuron 2 once (2 Hz);
        // spikes at -5 and 500 ms are outside.
        let t = [10.0, 499.0, -5.0, 250.0, 0.0, 500.0];
        let n = [0, 2, 1, 0, 0, 1];
        assert_eq!(
            firing_rates_hz(&t, &n, 3, 0.0, 500.0).unwrap(),
            [6.0, 0.0, 2.0]
        );
    }

    #[test]
    fn isi_cv_small_case_by_hand() {
        // Neuron 1: spikes 0, 10, 30 (given out of order) -> ISIs 10, 20: mean 15,
        // population std 5, CV 1/3. Neuron 0: one ISI -> NaN; neuron 2: none -> NaN.
        let t = [30.0, 7.0, 0.0, 9.0, 10.0];
        let n = [1, 0, 1, 0, 1];
        let cv = isi_cv(&t, &n, 3).unwrap();
        assert!(cv[0].is_nan() && cv[2].is_nan(), "{cv:?}");
        assert!((cv[1] - 1.0 / 3.0).abs() < 1e-15, "{}", cv[1]);
        // Four ISIs 2, 2, 4, 8: mean 4, population variance 6, CV sqrt(6) / 4.
        let t = [0.0, 2.0, 4.0, 8.0, 16.0];
        let cv = isi_cv(&t, &[0; 5], 1).unwrap()[0];
        assert!((cv - 6f64.sqrt() / 4.0).abs() < 1e-15, "{cv}");
    }

    #[test]
    fn fano_small_case_by_hand() {
        // Window [0, 45) of 10 ms bins: 4 whole bins; the spike at 42 is in the partial
        // bin and ignored, so are -1 and 45. Neuron 0 counts 3, 1, 0, 0: mean 1,
        // variance 1.5. Neuron 1: none -> NaN. Neuron 2 counts 1, 1, 1, 1 -> 0.
        let t = [1.0, 5.0, 9.9, 15.0, 42.0, -1.0, 45.0, 0.0, 10.0, 20.0, 39.9];
        let n = [0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2];
        let ff = fano_factor(&t, &n, 3, 0.0, 45.0, 10.0).unwrap();
        assert_eq!(ff[0], 1.5);
        assert!(ff[1].is_nan());
        assert_eq!(ff[2], 0.0);
    }

    #[test]
    fn results_do_not_depend_on_spike_order() {
        let (t, n) = poisson(5, 50.0, 1000.0, 3);
        let (tr, nr): (Vec<f64>, Vec<u32>) = t.iter().rev().zip(n.iter().rev()).unzip();
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        assert_eq!(
            bits(isi_cv(&t, &n, 5).unwrap()),
            bits(isi_cv(&tr, &nr, 5).unwrap())
        );
        assert_eq!(
            bits(fano_factor(&t, &n, 5, 0.0, 1000.0, 50.0).unwrap()),
            bits(fano_factor(&tr, &nr, 5, 0.0, 1000.0, 50.0).unwrap())
        );
    }

    #[test]
    fn bad_spike_arguments_are_errors_naming_the_argument() {
        let (t, n) = ([1.0, 2.0], [0u32, 1]);
        type Call = fn(&[f64], &[u32], usize) -> Result<Vec<f64>>;
        let calls: [Call; 3] = [
            |t, n, nn| firing_rates_hz(t, n, nn, 0.0, 10.0),
            |t, n, nn| isi_cv(t, n, nn),
            |t, n, nn| fano_factor(t, n, nn, 0.0, 10.0, 1.0),
        ];
        for call in calls {
            let e = err_text(call(&t, &n[..1], 2));
            assert!(
                e.contains("`neurons`") && e.contains("1 neurons for 2 times_ms"),
                "{e}"
            );
            let e = err_text(call(&t, &[0, 2], 2));
            assert!(
                e.contains("`neurons`")
                    && e.contains("neurons[1] = 2")
                    && e.contains("n_neurons = 2"),
                "{e}"
            );
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let e = err_text(call(&[1.0, bad], &n, 2));
                assert!(e.contains("`times_ms`") && e.contains("times_ms[1]"), "{e}");
            }
            let e = err_text(call(&[], &[], 0));
            assert!(e.contains("`n_neurons`") && e.contains("at least 1"), "{e}");
        }
        let e = err_text(psth(&[f64::NAN], 1, 0.0, 10.0, 1.0));
        assert!(e.contains("`times_ms`"), "{e}");
        let e = err_text(psth(&[], 0, 0.0, 10.0, 1.0));
        assert!(e.contains("`n_neurons`"), "{e}");
    }

    #[test]
    fn bad_windows_and_bins_are_errors_naming_the_argument() {
        let (t, n) = ([1.0], [0u32]);
        for (start, stop, field) in [
            (0.0, 0.0, "t_stop_ms"),
            (10.0, 5.0, "t_stop_ms"),
            (0.0, f64::NAN, "t_stop_ms"),
            (0.0, f64::INFINITY, "t_stop_ms"),
            (f64::NAN, 10.0, "t_start_ms"),
            (f64::NEG_INFINITY, 10.0, "t_start_ms"),
            (-f64::MAX, f64::MAX, "t_stop_ms"),
        ] {
            let field = format!("`{field}`");
            let e = err_text(firing_rates_hz(&t, &n, 1, start, stop));
            assert!(e.contains(&field), "{e}");
            let e = err_text(fano_factor(&t, &n, 1, start, stop, 1.0));
            assert!(e.contains(&field), "{e}");
            let e = err_text(psth(&t, 1, start, stop, 1.0));
            assert!(e.contains(&field), "{e}");
        }
        for bin in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-12] {
            let e = err_text(fano_factor(&t, &n, 1, 0.0, 10.0, bin));
            assert!(e.contains("`bin_ms`"), "{e}");
            let e = err_text(psth(&t, 1, 0.0, 10.0, bin));
            assert!(e.contains("`bin_ms`"), "{e}");
        }
        let e = err_text(fano_factor(&t, &n, 1, 0.0, 10.0, 10.5));
        assert!(
            e.contains("`bin_ms`") && e.contains("at most the window"),
            "{e}"
        );
    }

    #[test]
    fn spikes_outside_the_window_are_ignored() {
        let t = [-10.0, 5.0, 1e9, -1e300];
        let n = [0, 0, 0, 0];
        assert_eq!(firing_rates_hz(&t, &n, 1, 0.0, 10.0).unwrap(), [100.0]);
        // Counts 0, 1 in the two 5 ms bins: mean 0.5, variance 0.25.
        assert_eq!(fano_factor(&t, &n, 1, 0.0, 10.0, 5.0).unwrap(), [0.5]);
        assert_eq!(psth(&t, 1, 0.0, 10.0, 5.0).unwrap().1, [0.0, 200.0]);
        let empty = firing_rates_hz(&t, &n, 2, 20.0, 30.0).unwrap();
        assert_eq!(empty, [0.0, 0.0]);
    }
}
