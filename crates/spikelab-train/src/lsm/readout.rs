//! Linear readouts of liquid states: features standardised on the training set, then
//! ridge regression onto one-hot targets — its strength chosen by exact
//! leave-one-out error over a grid from one symmetric eigendecomposition of the
//! smaller Gram matrix (linfa-linalg), as scikit-learn's `RidgeClassifierCV` — or
//! multinomial logistic regression with an L2 penalty (linfa-logistic, L-BFGS).
//! A fitted [`Readout`] is plain weights, so it is saved and applied without linfa.

use linfa::prelude::DatasetBase;
use linfa::traits::Fit;
use linfa_linalg::eigh::Eigh;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use spikelab_core::error::{Error, Result};

/// Which readout to fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReadoutKind {
    /// Ridge regression on one-hot targets; `alpha` None chooses it by leave-one-out.
    Ridge {
        /// Regularisation strength on standardised features (None = automatic).
        #[serde(default)]
        alpha: Option<f64>,
    },
    /// Multinomial logistic regression with L2 penalty `alpha`.
    Logistic {
        /// Regularisation strength.
        alpha: f64,
        /// L-BFGS iterations.
        max_iterations: u64,
    },
}

impl Default for ReadoutKind {
    fn default() -> Self {
        ReadoutKind::Ridge { alpha: None }
    }
}

impl ReadoutKind {
    /// Readout names accepted on the command line.
    pub const NAMES: &'static str = "ridge, logistic";

    /// The readout called `name`, with `alpha` if given.
    pub fn named(name: &str, alpha: Option<f64>) -> Result<Self> {
        match name {
            "ridge" => Ok(ReadoutKind::Ridge { alpha }),
            "logistic" => Ok(ReadoutKind::Logistic {
                alpha: alpha.unwrap_or(1.0),
                max_iterations: 200,
            }),
            other => Err(Error::field(
                "readout",
                format!("unknown readout `{other}` (known: {})", Self::NAMES),
            )),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self, field: &str) -> Result<()> {
        let alpha = match self {
            ReadoutKind::Ridge { alpha } => *alpha,
            ReadoutKind::Logistic { alpha, .. } => Some(*alpha),
        };
        match alpha {
            Some(a) if !(a.is_finite() && a >= 0.0) => Err(Error::field(
                format!("{field}.alpha"),
                format!("must be finite and >= 0 (got {a})"),
            )),
            _ => Ok(()),
        }
    }
}

/// The regularisation grid of the automatic ridge: 10^-3 … 10^5, half decades.
pub fn ridge_grid() -> Vec<f64> {
    (0..=16)
        .map(|k| 10f64.powf(-3.0 + 0.5 * k as f64))
        .collect()
}

/// A fitted linear readout: `scores = ((x − mean) / scale) · weights + bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct Readout {
    /// Feature means of the training states.
    pub mean: Vec<f32>,
    /// Feature scales (standard deviations; 1 for constant features).
    pub scale: Vec<f32>,
    /// Weights, `features × classes`, row-major.
    pub weights: Vec<f32>,
    /// Bias per class.
    pub bias: Vec<f32>,
    /// Number of classes.
    pub classes: usize,
}

/// What fitting found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// The regularisation strength used.
    pub alpha: f64,
    /// Leave-one-out accuracy (%) at that strength (ridge only).
    pub loo_accuracy: Option<f64>,
    /// Leave-one-out accuracy (%) of each grid strength (automatic ridge only).
    pub loo_curve: Vec<(f64, f64)>,
}

impl Readout {
    /// Number of features.
    pub fn features(&self) -> usize {
        self.mean.len()
    }

    /// Class scores of each row of `x` (`samples × features`).
    pub fn scores(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        if x.ncols() != self.features() {
            return Err(Error::Invalid(format!(
                "the readout takes {} features, the states have {}",
                self.features(),
                x.ncols()
            )));
        }
        let z = standardise(x, &self.mean, &self.scale);
        let w = Array2::from_shape_vec(
            (self.features(), self.classes),
            self.weights.iter().map(|&v| v as f64).collect(),
        )
        .expect("weights are features × classes");
        let mut out = z.dot(&w);
        for mut row in out.rows_mut() {
            for (o, b) in row.iter_mut().zip(&self.bias) {
                *o += *b as f64;
            }
        }
        Ok(out)
    }

    /// The predicted class of each row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        Ok(self.scores(x)?.rows().into_iter().map(argmax).collect())
    }
}

fn argmax<'a>(row: impl IntoIterator<Item = &'a f64>) -> usize {
    let mut best = (0usize, f64::NEG_INFINITY);
    for (k, &v) in row.into_iter().enumerate() {
        if v > best.1 {
            best = (k, v);
        }
    }
    best.0
}

fn standardise(x: ArrayView2<f64>, mean: &[f32], scale: &[f32]) -> Array2<f64> {
    let mut z = x.to_owned();
    for mut row in z.rows_mut() {
        for ((v, &m), &s) in row.iter_mut().zip(mean).zip(scale) {
            *v = (*v - m as f64) / s as f64;
        }
    }
    z
}

/// Fits a readout of `kind` to the states `x` (`samples × features`) and labels.
pub fn fit(
    x: ArrayView2<f64>,
    labels: &[usize],
    classes: usize,
    kind: &ReadoutKind,
) -> Result<(Readout, FitInfo)> {
    kind.validate("readout")?;
    let (n, d) = x.dim();
    if n != labels.len() || n < 2 || d == 0 {
        return Err(Error::Invalid(format!(
            "a readout needs at least 2 samples with features and one label each (got {n} × {d} states, {} labels)",
            labels.len()
        )));
    }
    if let Some(&l) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::Invalid(format!(
            "label {l} is not below {classes} classes"
        )));
    }
    let mean = x.mean_axis(Axis(0)).expect("n >= 2");
    let scale: Vec<f32> = x
        .std_axis(Axis(0), 0.0)
        .iter()
        .map(|&s| if s > 1e-12 { s as f32 } else { 1.0 })
        .collect();
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let z = standardise(x, &mean, &scale);
    match kind {
        ReadoutKind::Ridge { alpha } => {
            let (w, b, info) = ridge(&z, labels, classes, *alpha)?;
            Ok((
                Readout {
                    mean,
                    scale,
                    weights: w.iter().map(|&v| v as f32).collect(),
                    bias: b.iter().map(|&v| v as f32).collect(),
                    classes,
                },
                info,
            ))
        }
        ReadoutKind::Logistic {
            alpha,
            max_iterations,
        } => {
            let ds = DatasetBase::new(z, Array1::from(labels.to_vec()));
            let model = MultiLogisticRegression::default()
                .alpha(*alpha)
                .max_iterations(*max_iterations)
                .fit(&ds)
                .map_err(|e| Error::Invalid(format!("logistic readout: {e}")))?;
            // Columns are the classes seen, sorted; absent classes never win.
            let mut weights = vec![0f32; d * classes];
            let mut bias = vec![-1e30f32; classes];
            for (col, &c) in model.classes().iter().enumerate() {
                for f in 0..d {
                    weights[f * classes + c] = model.params()[[f, col]] as f32;
                }
                bias[c] = model.intercept()[col] as f32;
            }
            Ok((
                Readout {
                    mean,
                    scale,
                    weights,
                    bias,
                    classes,
                },
                FitInfo {
                    alpha: *alpha,
                    loo_accuracy: None,
                    loo_curve: Vec::new(),
                },
            ))
        }
    }
}

/// Ridge with an intercept on features `z`: weights (`d × classes`), bias, and the
/// leave-one-out figures. With `P`, `f_j` and `B` from the eigendecomposition of the
/// smaller Gram matrix, fitted targets are `P diag(f) B` and the hat matrix's
/// diagonal `Σ_j P_ij² f_j`, so every strength costs one pass over `P`.
fn ridge(
    z: &Array2<f64>,
    labels: &[usize],
    classes: usize,
    alpha: Option<f64>,
) -> Result<(Array2<f64>, Array1<f64>, FitInfo)> {
    let (n, d) = z.dim();
    // Centred features and targets: the intercept is then unpenalised and separate.
    let z_mean = z.mean_axis(Axis(0)).expect("n >= 2");
    let z = &(z - &z_mean);
    let mut y = Array2::<f64>::zeros((n, classes));
    for (i, &l) in labels.iter().enumerate() {
        y[[i, l]] = 1.0;
    }
    let y_mean = y.mean_axis(Axis(0)).expect("n >= 2");
    let yc = &y - &y_mean;
    let dual = n <= d;
    let gram = if dual { z.dot(&z.t()) } else { z.t().dot(z) };
    let (eigenvalues, vectors) = gram
        .eigh()
        .map_err(|e| Error::Invalid(format!("ridge readout: eigendecomposition failed: {e}")))?;
    let lambda: Vec<f64> = eigenvalues.iter().map(|&l| l.max(0.0)).collect();
    // P: n × m, B: m × classes.
    let p = if dual {
        vectors.clone()
    } else {
        z.dot(&vectors)
    };
    let b = p.t().dot(&yc);
    let shrink = |a: f64| -> Vec<f64> {
        lambda
            .iter()
            .map(|&l| if dual { l / (l + a) } else { 1.0 / (l + a) })
            .collect()
    };
    let loo = |a: f64| -> f64 {
        let f = shrink(a);
        let pf = &p * &Array1::from(f.clone());
        let fitted = pf.dot(&b);
        // The intercept adds 1/n to every diagonal entry of the hat matrix.
        let hat: Vec<f64> = (0..n)
            .map(|i| {
                1.0 / n as f64
                    + (0..lambda.len())
                        .map(|j| p[[i, j]] * pf[[i, j]])
                        .sum::<f64>()
            })
            .collect();
        let mut correct = 0usize;
        for i in 0..n {
            let h = (1.0 - hat[i]).max(1e-9);
            let row: Vec<f64> = (0..classes)
                .map(|c| yc[[i, c]] - (yc[[i, c]] - fitted[[i, c]]) / h + y_mean[c])
                .collect();
            correct += usize::from(argmax(&row) == labels[i]);
        }
        100.0 * correct as f64 / n as f64
    };
    let (chosen, curve) = match alpha {
        Some(a) => (a.max(1e-12), Vec::new()),
        None => {
            let curve: Vec<(f64, f64)> = ridge_grid().into_iter().map(|a| (a, loo(a))).collect();
            // The best accuracy; among ties the strongest regularisation.
            let best = curve
                .iter()
                .fold((0.0, f64::NEG_INFINITY), |best, &(a, acc)| {
                    if acc >= best.1 {
                        (a, acc)
                    } else {
                        best
                    }
                })
                .0;
            (best, curve)
        }
    };
    let loo_accuracy = loo(chosen);
    // Weights: primal V diag(1/(λ+a)) B; dual Zᵀ Q diag(1/(λ+a)) Qᵀ Y.
    let inv: Array1<f64> = lambda.iter().map(|&l| 1.0 / (l + chosen)).collect();
    let scaled_b = &b * &inv.clone().insert_axis(Axis(1));
    let w = if dual {
        z.t().dot(&vectors.dot(&scaled_b))
    } else {
        vectors.dot(&scaled_b)
    };
    let bias = &y_mean - &z_mean.dot(&w);
    Ok((
        w,
        bias,
        FitInfo {
            alpha: chosen,
            loo_accuracy: Some(loo_accuracy),
            loo_curve: curve,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;
    use rand::{Rng, SeedableRng};

    /// Three Gaussian blobs in 20 dimensions, separable by a linear readout.
    fn blobs(n_per: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut x = Array2::zeros((3 * n_per, d));
        let mut labels = Vec::new();
        for c in 0..3 {
            for i in 0..n_per {
                let r = c * n_per + i;
                for f in 0..d {
                    let centre = if f % 3 == c { 2.0 } else { 0.0 };
                    x[[r, f]] = centre + rng.random_range(-1.0..1.0);
                }
                labels.push(c);
            }
        }
        (x, labels)
    }

    #[test]
    fn ridge_separates_blobs_and_its_leave_one_out_matches_refitting() {
        for d in [20, 200] {
            // d = 20 < n takes the primal path, d = 200 > n the dual one.
            let (x, labels) = blobs(30, d, 1);
            let (r, info) = fit(x.view(), &labels, 3, &ReadoutKind::Ridge { alpha: None }).unwrap();
            let pred = r.predict(x.view()).unwrap();
            let acc = pred.iter().zip(&labels).filter(|(a, b)| a == b).count();
            assert!(acc >= 88, "d = {d}: {acc}/90 on the training blobs");
            assert_eq!(info.loo_curve.len(), ridge_grid().len());
            // Leave-one-out by refitting at the chosen strength gives the same accuracy.
            let alpha = info.alpha;
            let mut correct = 0;
            for i in 0..labels.len() {
                let keep: Vec<usize> = (0..labels.len()).filter(|&k| k != i).collect();
                let ls: Vec<usize> = keep.iter().map(|&k| labels[k]).collect();
                // The closed form keeps the full set's standardisation, so refit on
                // the same standardised features.
                let z = standardise(x.view(), &r.mean, &r.scale);
                let zs = z.select(Axis(0), &keep);
                let (w, b, _) = ridge(&zs, &ls, 3, Some(alpha)).unwrap();
                let scores = z.row(i).dot(&w) + &b;
                correct += usize::from(argmax(&scores) == labels[i]);
            }
            let refit = 100.0 * correct as f64 / labels.len() as f64;
            assert!(
                (refit - info.loo_accuracy.unwrap()).abs() < 1e-9,
                "d = {d}: refit {refit} vs closed form {:?}",
                info.loo_accuracy
            );
        }
    }

    #[test]
    fn logistic_separates_blobs_and_bad_input_is_refused() {
        let (x, labels) = blobs(20, 12, 2);
        let kind = ReadoutKind::named("logistic", Some(0.1)).unwrap();
        let (r, _) = fit(x.view(), &labels, 4, &kind).unwrap();
        let pred = r.predict(x.view()).unwrap();
        let acc = pred.iter().zip(&labels).filter(|(a, b)| a == b).count();
        assert!(acc >= 58, "{acc}/60");
        // Class 3 never appears, so it is never predicted.
        assert!(pred.iter().all(|&p| p < 3));
        assert!(r.predict(x.slice(s![.., ..5])).is_err());
        assert!(fit(x.view(), &labels[..3], 3, &kind).is_err());
        assert!(fit(x.view(), &labels, 2, &kind).is_err());
        let e = ReadoutKind::Ridge { alpha: Some(-1.0) }
            .validate("readout")
            .unwrap_err();
        assert!(e.to_string().contains("readout.alpha"), "{e}");
        assert!(ReadoutKind::named("svm", None).is_err());
    }
}
