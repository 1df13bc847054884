//! The HDF5 side of NIR files: a file as a tree of groups, numeric arrays and string
//! arrays ([`Tree`], [`Value`]), read and written with the pure-Rust `hdf5-pure` crate
//! (no libhdf5). The reader accepts what h5py writes for the Python `nir` package
//! (superblock 0, symbol-table groups, gzip-compressed chunked datasets, variable-length
//! UTF-8 strings); the writer writes the same layout (numeric arrays gzip-compressed,
//! scalars and strings plain), which `nir.read` and h5py read back.
//!
//! Files from outside are untrusted: every dataset's declared size is checked against
//! what the file can hold before anything is allocated (deflate cannot expand data by
//! more than 1032:1), string reads are bounded, and nesting is limited, so truncated or
//! corrupted files give errors naming the object, never a panic or an absurd
//! allocation.

use hdf5_pure::{DType, DatasetBuilder, File, FileBuilder, GroupBuilder, VlenStringReadOptions};
use spikelab_core::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A group's members by name.
pub type Tree = BTreeMap<String, Value>;

/// One member of a group.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A subgroup.
    Group(Tree),
    /// A numeric dataset.
    Array(Array),
    /// A string dataset.
    Strings(Strings),
}

/// How a numeric array is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer (integers of every width are read as this).
    I64,
}

/// A numeric dataset: shape (row-major) and values (exact for `f32`, `f64` and integers
/// up to 2^53).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Storage type.
    pub dtype: Dtype,
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f64>,
}

impl Array {
    /// A scalar.
    pub fn scalar(dtype: Dtype, v: f64) -> Self {
        Array {
            dtype,
            shape: Vec::new(),
            data: vec![v],
        }
    }
    /// A 1-D array.
    pub fn vector(dtype: Dtype, data: Vec<f64>) -> Self {
        Array {
            dtype,
            shape: vec![data.len()],
            data,
        }
    }
    /// An array of `shape`; `data` must hold the product of `shape` values.
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: Vec<f64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { dtype, shape, data }
    }
    /// An `f32` array from `f32` values.
    pub fn from_f32(shape: Vec<usize>, data: &[f32]) -> Self {
        Array::new(
            Dtype::F32,
            shape,
            data.iter().map(|&v| f64::from(v)).collect(),
        )
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True when the array holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A string dataset (variable- or fixed-length).
#[derive(Clone, Debug, PartialEq)]
pub struct Strings {
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<String>,
}

impl Strings {
    /// A scalar string.
    pub fn scalar(s: &str) -> Self {
        Strings {
            shape: Vec::new(),
            values: vec![s.to_string()],
        }
    }
}

/// Deepest group nesting read.
pub const MAX_DEPTH: usize = 64;
/// Most objects (groups and datasets) read from one file.
pub const MAX_OBJECTS: usize = 1 << 20;
/// deflate's largest expansion (output bytes per input byte).
const DEFLATE_MAX_RATIO: u64 = 1032;

fn h5_error(path: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{what}: HDF5 object `{path}`: {e}"))
}

/// Reads the HDF5 file at `path` as a tree.
pub fn read_file(path: &Path) -> Result<Tree> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    read_bytes(bytes, &path.display().to_string())
}

/// Reads an HDF5 file held in memory; `what` names it in errors.
pub fn read_bytes(bytes: Vec<u8>, what: &str) -> Result<Tree> {
    if !hdf5_pure::is_hdf5_bytes(&bytes) {
        return Err(Error::Invalid(format!(
            "{what}: not an HDF5 file (NIR files are HDF5, as written by `nir.write`)"
        )));
    }
    let file_len = bytes.len() as u64;
    let file = File::from_bytes(bytes).map_err(|e| h5_error("/", what, e))?;
    let mut reader = Reader {
        what,
        // Everything the file can expand to, plus slack for fill values of small arrays.
        budget: file_len
            .saturating_mul(DEFLATE_MAX_RATIO)
            .saturating_add(1 << 20),
        file_len,
        objects: 0,
    };
    reader.group(&file.root(), "", 0)
}

struct Reader<'a> {
    what: &'a str,
    budget: u64,
    file_len: u64,
    objects: usize,
}

impl Reader<'_> {
    fn group(&mut self, g: &hdf5_pure::Group, path: &str, depth: usize) -> Result<Tree> {
        if depth > MAX_DEPTH {
            return Err(Error::Invalid(format!(
                "{}: groups nested deeper than {MAX_DEPTH} at `{path}`",
                self.what
            )));
        }
        let mut out = Tree::new();
        let datasets = g.datasets().map_err(|e| h5_error(path, self.what, e))?;
        let groups = g.groups().map_err(|e| h5_error(path, self.what, e))?;
        self.objects = self.objects.saturating_add(datasets.len() + groups.len());
        if self.objects > MAX_OBJECTS {
            return Err(Error::Invalid(format!(
                "{}: more than {MAX_OBJECTS} objects",
                self.what
            )));
        }
        for name in datasets {
            let p = format!("{path}/{name}");
            let ds = g.dataset(&name).map_err(|e| h5_error(&p, self.what, e))?;
            let v = self.dataset(&ds, &p)?;
            out.insert(name, v);
        }
        for name in groups {
            let p = format!("{path}/{name}");
            let sub = g.group(&name).map_err(|e| h5_error(&p, self.what, e))?;
            let t = self.group(&sub, &p, depth + 1)?;
            out.insert(name, Value::Group(t));
        }
        Ok(out)
    }

    fn dataset(&mut self, ds: &hdf5_pure::Dataset, path: &str) -> Result<Value> {
        let err = |e: hdf5_pure::Error| h5_error(path, self.what, e);
        let shape64 = ds.shape().map_err(err)?;
        let count = shape64
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX);
        let element = ds.element_size().map_err(err)?.max(1);
        let bytes = count.saturating_mul(element);
        if bytes > self.budget {
            return Err(Error::Invalid(format!(
                "{}: dataset `{path}` declares {count} values of {element} bytes, more than a file of {} bytes can hold",
                self.what, self.file_len
            )));
        }
        self.budget -= bytes;
        let shape: Vec<usize> = shape64.iter().map(|&d| d as usize).collect();
        let dtype = ds.dtype().map_err(err)?;
        let floats = |v: Vec<f64>, dtype| {
            Value::Array(Array {
                dtype,
                shape: shape.clone(),
                data: v,
            })
        };
        let value = match dtype {
            DType::F32 => floats(
                ds.read_f32()
                    .map_err(err)?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
                Dtype::F32,
            ),
            DType::F64 => floats(ds.read_f64().map_err(err)?, Dtype::F64),
            DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::U8 | DType::U16 => {
                let v = ds.read_i64().map_err(err)?;
                floats(self.ints(v, path)?, Dtype::I64)
            }
            DType::U32 | DType::U64 => {
                let v = ds.read_u64().map_err(err)?;
                let mut out = Vec::with_capacity(v.len());
                for x in v {
                    out.push(i64::try_from(x).map_err(|_| {
                        Error::Invalid(format!(
                            "{}: dataset `{path}`: integer {x} is too large",
                            self.what
                        ))
                    })?);
                }
                floats(self.ints(out, path)?, Dtype::I64)
            }
            DType::String | DType::VariableLengthString => {
                let opts = VlenStringReadOptions::new()
                    .with_max_elements(1 << 20)
                    .with_max_payload_bytes(self.file_len.max(1 << 16) as usize);
                let values = if matches!(dtype, DType::VariableLengthString) {
                    ds.read_vlen_strings(opts).map_err(err)?
                } else {
                    ds.read_string().map_err(err)?
                };
                if values.len() as u64 != count {
                    return Err(Error::Invalid(format!(
                        "{}: dataset `{path}` holds {} strings for a shape of {count}",
                        self.what,
                        values.len()
                    )));
                }
                Value::Strings(Strings { shape, values })
            }
            other => {
                return Err(Error::Invalid(format!(
                "{}: dataset `{path}` has HDF5 type {other}; NIR files hold numbers and strings",
                self.what
            )))
            }
        };
        if let Value::Array(a) = &value {
            if a.data.len() as u64 != count {
                return Err(Error::Invalid(format!(
                    "{}: dataset `{path}` holds {} values for a shape of {count}",
                    self.what,
                    a.data.len()
                )));
            }
        }
        Ok(value)
    }

    fn ints(&self, v: Vec<i64>, path: &str) -> Result<Vec<f64>> {
        const EXACT: i64 = 1 << 53;
        v.into_iter()
            .map(|x| {
                if (-EXACT..=EXACT).contains(&x) {
                    Ok(x as f64)
                } else {
                    Err(Error::Invalid(format!(
                        "{}: dataset `{path}`: integer {x} is too large",
                        self.what
                    )))
                }
            })
            .collect()
    }
}

/// The tree as the bytes of an HDF5 file.
pub fn to_bytes(tree: &Tree) -> Result<Vec<u8>> {
    let mut fb = FileBuilder::new();
    for (name, v) in tree {
        match v {
            Value::Group(t) => {
                let mut g = fb.create_group(name);
                fill_group(&mut g, t);
                fb.add_group(g.finish());
            }
            other => fill_dataset(fb.create_dataset(name), other),
        }
    }
    fb.finish()
        .map_err(|e| Error::Invalid(format!("cannot encode the HDF5 file: {e}")))
}

/// Writes the tree as an HDF5 file at `path` (atomically: a failed write leaves no
/// partial file).
pub fn write_file(path: &Path, tree: &Tree) -> Result<()> {
    let bytes = to_bytes(tree)?;
    spikelab_core::io::write_atomic(path, &bytes)
}

fn fill_group(g: &mut GroupBuilder, tree: &Tree) {
    for (name, v) in tree {
        match v {
            Value::Group(t) => {
                let mut sub = g.create_group(name);
                fill_group(&mut sub, t);
                g.add_group(sub.finish());
            }
            other => fill_dataset(g.create_dataset(name), other),
        }
    }
}

fn fill_dataset(d: &mut DatasetBuilder, v: &Value) {
    let dims: Vec<u64> = match v {
        Value::Array(a) => a.shape.iter().map(|&x| x as u64).collect(),
        Value::Strings(s) => s.shape.iter().map(|&x| x as u64).collect(),
        Value::Group(_) => unreachable!("groups are filled by fill_group"),
    };
    match v {
        Value::Array(a) => {
            match a.dtype {
                Dtype::F32 => {
                    let data: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
                    d.with_f32_data(&data)
                }
                Dtype::F64 => d.with_f64_data(&a.data),
                Dtype::I64 => {
                    let data: Vec<i64> = a.data.iter().map(|&x| x as i64).collect();
                    d.with_i64_data(&data)
                }
            };
            d.with_shape(&dims);
            // As `nir.write`: arrays gzip-compressed in one chunk, scalars plain.
            if !dims.is_empty() && !a.data.is_empty() {
                d.with_chunks(&dims).with_deflate(4);
            }
        }
        Value::Strings(s) => {
            let refs: Vec<&str> = s.values.iter().map(String::as_str).collect();
            d.with_vlen_strings(&refs).with_shape(&dims);
        }
        Value::Group(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tree {
        let mut inner = Tree::new();
        inner.insert(
            "weight".into(),
            Value::Array(Array::from_f32(
                vec![2, 3],
                &[1.0, -2.5, 3.0, 0.1, 5.0, 6.0],
            )),
        );
        inner.insert(
            "tau".into(),
            Value::Array(Array::vector(Dtype::F64, vec![0.02, 1e-300])),
        );
        inner.insert(
            "groups".into(),
            Value::Array(Array::scalar(Dtype::I64, -3.0)),
        );
        inner.insert("type".into(), Value::Strings(Strings::scalar("Affine")));
        inner.insert(
            "empty".into(),
            Value::Array(Array::new(Dtype::F32, vec![0], vec![])),
        );
        let mut root = Tree::new();
        root.insert("version".into(), Value::Strings(Strings::scalar("1.0.8")));
        root.insert(
            "edges".into(),
            Value::Strings(Strings {
                shape: vec![2, 2],
                values: vec!["a".into(), "b".into(), "b".into(), "c — ü".into()],
            }),
        );
        root.insert("node".into(), Value::Group(inner));
        root
    }

    #[test]
    fn trees_round_trip_through_hdf5() {
        let t = sample();
        let bytes = to_bytes(&t).unwrap();
        assert_eq!(read_bytes(bytes, "mem").unwrap(), t);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.nir");
        write_file(&p, &t).unwrap();
        assert_eq!(read_file(&p).unwrap(), t);
    }

    #[test]
    fn bad_files_give_errors() {
        let e = read_bytes(b"not hdf5 at all".to_vec(), "x.nir")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an HDF5 file"), "{e}");
        let bytes = to_bytes(&sample()).unwrap();
        for cut in [8, 100, bytes.len() / 2] {
            assert!(
                read_bytes(bytes[..cut].to_vec(), "cut.nir").is_err(),
                "cut {cut}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let e = read_file(&dir.path().join("missing.nir"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }
}
