//! Physical dimensions and units of the equation language: Brian2's unit names
//! (`mV`, `ms`, `nS`, `pF`, `Mohm`, `Hz`, `umetre`, `mM`, ... with the SI prefixes),
//! dimension arithmetic with half-integer exponents (noise terms carry
//! `second^-1/2`), and the *working units* every quantity is stored and computed in.
//!
//! The working units are the SI base units scaled so that the units of the engine's
//! built-in models come out as 1: µm, 10⁻¹² kg, ms, pA (and amol, so mM = 1). Then
//! mV, ms, nS, pF, pA and kHz are all 1, a membrane potential is stored in mV exactly
//! as the built-in models store it, and an equation model written in those units
//! computes with the same numbers as hand-written Rust.

use std::fmt;

/// Number of SI base dimensions: metre, kilogram, second, ampere, kelvin, mole,
/// candela.
const BASES: usize = 7;
const BASE_NAMES: [&str; BASES] = ["m", "kg", "s", "A", "K", "mol", "cd"];
/// Working unit of each base dimension, in SI.
const WORKING_SCALE: [f64; BASES] = [1e-6, 1e-12, 1e-3, 1e-12, 1.0, 1e-18, 1.0];

/// A physical dimension: exponents of the SI base units, in halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Dim([i8; BASES]);

impl Dim {
    /// Dimensionless.
    pub const ONE: Dim = Dim([0; BASES]);
    /// Time (second).
    pub const TIME: Dim = Dim([0, 0, 2, 0, 0, 0, 0]);

    fn base(k: usize, e: i8) -> Dim {
        let mut d = [0; BASES];
        d[k] = 2 * e;
        Dim(d)
    }

    fn from_exponents(e: [i8; BASES]) -> Dim {
        Dim(e.map(|x| 2 * x))
    }

    /// Whether the dimension is 1.
    pub fn is_one(self) -> bool {
        self == Dim::ONE
    }

    /// Product of two dimensions.
    pub fn times(self, o: Dim) -> Dim {
        Dim(std::array::from_fn(|k| self.0[k].saturating_add(o.0[k])))
    }

    /// Quotient of two dimensions.
    pub fn over(self, o: Dim) -> Dim {
        Dim(std::array::from_fn(|k| self.0[k].saturating_sub(o.0[k])))
    }

    /// The dimension to the power `p`, if every exponent stays a multiple of ½.
    pub fn powf(self, p: f64) -> Option<Dim> {
        let mut out = [0i8; BASES];
        for (o, &x) in out.iter_mut().zip(&self.0) {
            let e = x as f64 * p;
            if (e - e.round()).abs() > 1e-9 || e.abs() > 100.0 {
                return None;
            }
            *o = e.round() as i8;
        }
        Some(Dim(out))
    }

    /// Factor from this dimension's SI unit to its working unit: a value `x` in SI
    /// is `x / working_scale()` in working units.
    pub fn working_scale(self) -> f64 {
        (0..BASES)
            .map(|k| WORKING_SCALE[k].powf(self.0[k] as f64 / 2.0))
            .product()
    }

    /// Name of the working unit of this dimension (`mV`, `nS`, ...) where it has one.
    pub fn working_unit_name(self) -> String {
        for (name, dim) in named_dims() {
            if dim == self {
                let working = match name {
                    "volt" => "mV",
                    "second" => "ms",
                    "siemens" => "nS",
                    "amp" => "pA",
                    "farad" => "pF",
                    "ohm" => "Gohm",
                    "hertz" => "kHz",
                    "metre" => "um",
                    "molar" => "mM",
                    "1" => "1",
                    _ => break,
                };
                return working.to_string();
            }
        }
        format!("{} × {self}", format_si(self.working_scale()))
    }
}

fn format_si(x: f64) -> String {
    format!("{x:e}")
}

/// Dimensions with a name, for messages (`volt` reads better than `m^2 kg s^-3 A^-1`).
fn named_dims() -> [(&'static str, Dim); 16] {
    let v = Dim::from_exponents([2, 1, -3, -1, 0, 0, 0]);
    let s = Dim::TIME;
    let a = Dim::base(3, 1);
    let siemens = a.over(v);
    let farad = a.times(s).over(v);
    let m = Dim::base(0, 1);
    [
        ("1", Dim::ONE),
        ("volt", v),
        ("second", s),
        ("amp", a),
        ("siemens", siemens),
        ("farad", farad),
        ("ohm", v.over(a)),
        ("hertz", Dim::ONE.over(s)),
        ("metre", m),
        ("volt/second", v.over(s)),
        ("amp/metre^2", a.over(m.times(m))),
        ("siemens/metre^2", siemens.over(m.times(m))),
        ("farad/metre^2", farad.over(m.times(m))),
        ("molar", Dim::base(5, 1).over(m.times(m).times(m))),
        ("second^-1/2", s.powf(-0.5).expect("half power")),
        ("siemens/second", siemens.over(s)),
    ]
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, dim) in named_dims() {
            if dim == *self {
                return f.write_str(name);
            }
        }
        // A product or quotient of two named units reads better than base units.
        let simple: Vec<(&str, Dim)> = named_dims()
            .into_iter()
            .filter(|(n, _)| *n != "1" && !n.contains(['/', '^']))
            .collect();
        for product in [true, false] {
            for &(a, da) in &simple {
                for &(b, db) in &simple {
                    if product && da.times(db) == *self {
                        return write!(f, "{a}·{b}");
                    }
                    if !product && da.over(db) == *self {
                        return write!(f, "{a}/{b}");
                    }
                }
            }
        }
        let mut first = true;
        for (name, &e) in BASE_NAMES.iter().zip(&self.0) {
            if e == 0 {
                continue;
            }
            if !first {
                f.write_str("·")?;
            }
            first = false;
            f.write_str(name)?;
            if e % 2 == 0 {
                if e != 2 {
                    write!(f, "^{}", e / 2)?;
                }
            } else {
                write!(f, "^{}/2", e)?;
            }
        }
        Ok(())
    }
}

/// A value in SI with its dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantity {
    /// The value in SI units.
    pub si: f64,
    /// Its dimension.
    pub dim: Dim,
}

impl Quantity {
    /// The value in working units.
    pub fn working(self) -> f64 {
        self.si / self.dim.working_scale()
    }
}

/// Units without a prefix, in SI: (names, dimension). Each name also takes the
/// one-letter SI prefixes (`mV`, `mvolt`, `nS`, `nsiemens`, `ufarad`, `kHz`, ...).
fn base_units() -> Vec<(&'static [&'static str], f64, Dim)> {
    let v = Dim::from_exponents([2, 1, -3, -1, 0, 0, 0]);
    let a = Dim::base(3, 1);
    let s = Dim::TIME;
    let m = Dim::base(0, 1);
    let kg = Dim::base(1, 1);
    let mol = Dim::base(5, 1);
    vec![
        (&["V", "volt"], 1.0, v),
        (&["s", "second"], 1.0, s),
        (&["A", "amp", "ampere"], 1.0, a),
        (&["S", "siemens"], 1.0, a.over(v)),
        (&["F", "farad"], 1.0, a.times(s).over(v)),
        (&["ohm", "Ohm"], 1.0, v.over(a)),
        (&["Hz", "hertz"], 1.0, Dim::ONE.over(s)),
        (&["m", "metre", "meter"], 1.0, m),
        (&["g", "gram", "gramme"], 1e-3, kg),
        (&["mol", "mole"], 1.0, mol),
        (&["M", "molar"], 1e3, mol.over(m.times(m).times(m))),
        (&["K", "kelvin"], 1.0, Dim::base(4, 1)),
        (&["C", "coulomb"], 1.0, a.times(s)),
        (&["J", "joule"], 1.0, v.times(a).times(s)),
        (&["W", "watt"], 1.0, v.times(a)),
        (&["l", "L", "litre", "liter"], 1e-3, m.times(m).times(m)),
    ]
}

const PREFIXES: [(char, f64); 11] = [
    ('f', 1e-15),
    ('p', 1e-12),
    ('n', 1e-9),
    ('u', 1e-6),
    ('µ', 1e-6),
    ('m', 1e-3),
    ('c', 1e-2),
    ('d', 1e-1),
    ('k', 1e3),
    ('M', 1e6),
    ('G', 1e9),
];

/// The unit called `name` (`mV`, `nsiemens`, `Mohm`, `kg`, ...), if there is one.
pub fn unit(name: &str) -> Option<Quantity> {
    if name == "kg" || name == "kilogram" {
        return Some(Quantity {
            si: 1.0,
            dim: Dim::base(1, 1),
        });
    }
    let table = base_units();
    let find = |n: &str| {
        table
            .iter()
            .find(|(names, _, _)| names.contains(&n))
            .map(|&(_, si, dim)| Quantity { si, dim })
    };
    if let Some(q) = find(name) {
        return Some(q);
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    let (_, factor) = PREFIXES.iter().find(|(p, _)| *p == first)?;
    find(rest).map(|q| Quantity {
        si: q.si * factor,
        dim: q.dim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_units_of_the_engine_are_one() {
        for name in ["mV", "ms", "nS", "pF", "pA", "kHz", "mM", "um"] {
            let q = unit(name).unwrap();
            assert!((q.working() - 1.0).abs() < 1e-12, "{name}: {}", q.working());
        }
        assert!((unit("Mohm").unwrap().working() - 1e-3).abs() < 1e-15);
        assert!((unit("second").unwrap().working() - 1e3).abs() < 1e-9);
        assert_eq!(unit("msecond").unwrap().dim, Dim::TIME);
        assert!(unit("parsec").is_none() && unit("x").is_none());
    }

    #[test]
    fn dimensions_multiply_and_print() {
        let v = unit("mV").unwrap().dim;
        let s = unit("ms").unwrap().dim;
        assert_eq!(v.to_string(), "volt");
        assert_eq!(v.over(s).to_string(), "volt/second");
        assert_eq!(s.powf(-0.5).unwrap().to_string(), "second^-1/2");
        assert_eq!(v.times(v).to_string(), "volt·volt");
        assert_eq!(v.times(unit("Mohm").unwrap().dim).to_string(), "volt·ohm");
        assert_eq!(v.times(v).times(v).to_string(), "m^6·kg^3·s^-9·A^-3");
        assert!(v.powf(0.25).is_none());
        assert_eq!(v.working_unit_name(), "mV");
    }
}
