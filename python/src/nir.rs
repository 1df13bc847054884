//! NIR from Python: files as nested dicts of numpy arrays and strings (the HDF5 tree
//! of `spikelab_train::nir::hdf5`, after the graph is parsed and checked by
//! `spikelab_train::nir::graph`), and the import of a graph as a loaded model.

use crate::train::Trainer;
use crate::IntoPy;
use numpy::prelude::*;
use numpy::PyReadonlyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use spikelab_train::bptt::trainer::Model;
use spikelab_train::nir::hdf5::{Array, Dtype, Strings, Tree, Value};
use spikelab_train::nir::import::{import_graph, ImportOptions};
use spikelab_train::nir::NirGraph;
use std::path::PathBuf;

fn strings_to_py<'py>(py: Python<'py>, s: &Strings) -> PyResult<Bound<'py, PyAny>> {
    if s.shape.is_empty() {
        return Ok(PyString::new(py, &s.values[0]).into_any());
    }
    // Nested lists, row-major.
    fn nest<'py>(py: Python<'py>, v: &[String], shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
        if shape.len() <= 1 {
            return Ok(PyList::new(py, v)?.into_any());
        }
        let inner: usize = shape[1..].iter().product();
        let items: Vec<Bound<'py, PyAny>> = (0..shape[0])
            .map(|i| nest(py, &v[i * inner..(i + 1) * inner], &shape[1..]))
            .collect::<PyResult<_>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
    nest(py, &s.values, &s.shape)
}

fn array_to_py<'py>(py: Python<'py>, a: &Array) -> PyResult<Bound<'py, PyAny>> {
    let shape = a.shape.clone();
    Ok(match a.dtype {
        Dtype::F32 => {
            let v: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
            v.into_pyarray(py).reshape(shape)?.into_any()
        }
        Dtype::F64 => a.data.clone().into_pyarray(py).reshape(shape)?.into_any(),
        Dtype::I64 => {
            let v: Vec<i64> = a.data.iter().map(|&x| x as i64).collect();
            v.into_pyarray(py).reshape(shape)?.into_any()
        }
    })
}

fn tree_to_py<'py>(py: Python<'py>, t: &Tree) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in t {
        let item = match v {
            Value::Group(g) => tree_to_py(py, g)?.into_any(),
            Value::Array(a) => array_to_py(py, a)?,
            Value::Strings(s) => strings_to_py(py, s)?,
        };
        d.set_item(k, item)?;
    }
    Ok(d)
}

fn strings_from_py(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<Option<Strings>> {
    if let Ok(s) = obj.extract::<String>() {
        return Ok(Some(Strings::scalar(&s)));
    }
    let Ok(list) = obj.cast::<PyList>() else {
        return Ok(None);
    };
    // A (nested) list of strings: its shape is that of the nesting.
    let mut shape = vec![list.len()];
    let mut values = Vec::new();
    let mut inner_shape: Option<Vec<usize>> = None;
    for item in list.iter() {
        if let Ok(s) = item.extract::<String>() {
            values.push(s);
            if inner_shape.get_or_insert_with(Vec::new) != &Vec::<usize>::new() {
                return Err(PyValueError::new_err(format!(
                    "`{at}`: ragged list of strings"
                )));
            }
        } else {
            let sub = strings_from_py(&item, at)?.ok_or_else(|| {
                PyValueError::new_err(format!("`{at}`: a list must hold strings only"))
            })?;
            if inner_shape.get_or_insert_with(|| sub.shape.clone()) != &sub.shape {
                return Err(PyValueError::new_err(format!(
                    "`{at}`: ragged list of strings"
                )));
            }
            values.extend(sub.values);
        }
    }
    shape.extend(inner_shape.unwrap_or_default());
    Ok(Some(Strings { shape, values }))
}

fn value_from_py(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<Value> {
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Value::Group(tree_from_py(d, at)?));
    }
    if let Some(s) = strings_from_py(obj, at)? {
        return Ok(Value::Strings(s));
    }
    let arr = |shape: &[usize], data: Vec<f64>, dtype| {
        Value::Array(Array::new(dtype, shape.to_vec(), data))
    };
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let v = a.as_array();
        return Ok(arr(
            v.shape(),
            v.iter().map(|&x| f64::from(x)).collect(),
            Dtype::F32,
        ));
    }
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        let v = a.as_array();
        return Ok(arr(v.shape(), v.iter().copied().collect(), Dtype::F64));
    }
    if let Ok(a) = obj.extract::<PyReadonlyArrayDyn<'_, i64>>() {
        let v = a.as_array();
        return Ok(arr(
            v.shape(),
            v.iter().map(|&x| x as f64).collect(),
            Dtype::I64,
        ));
    }
    Err(PyValueError::new_err(format!(
        "`{at}`: expected a dict, a string, a list of strings or a float32/float64/int64 numpy array, got {}",
        obj.get_type().name()?
    )))
}

fn tree_from_py(d: &Bound<'_, PyDict>, at: &str) -> PyResult<Tree> {
    let mut t = Tree::new();
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        let path = format!("{at}/{key}");
        t.insert(key, value_from_py(&v, &path)?);
    }
    Ok(t)
}

/// The NIR file at `path` as nested dicts (`version`, `node` with `type`, `nodes`,
/// `edges`, `metadata`), after Spikelab has parsed and checked it.
#[pyfunction]
fn nir_read_tree<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let g = py.detach(|| NirGraph::read(&path)).py()?;
    tree_to_py(py, &g.to_file_tree())
}

/// Writes nested dicts in the layout `nir_read_tree` returns as a NIR file, after
/// parsing and checking them as a graph.
#[pyfunction]
fn nir_write_tree(tree: &Bound<'_, PyDict>, path: PathBuf) -> PyResult<()> {
    let t = tree_from_py(tree, "")?;
    let g = NirGraph::from_file_tree(&t, "graph").py()?;
    g.write(&path).py()
}

/// Imports the NIR file at `path` with the JSON of `ImportOptions`; returns the loaded
/// model and the notes of the import.
#[pyfunction]
fn nir_import(
    py: Python<'_>,
    path: PathBuf,
    options_json: &str,
) -> PyResult<(Trainer, Vec<String>)> {
    let opts: ImportOptions = serde_json::from_str(options_json)
        .map_err(|e| PyValueError::new_err(format!("invalid NIR import option: {e}")))?;
    let imported = py
        .detach(|| NirGraph::read(&path).and_then(|g| import_graph(&g, &opts)))
        .py()?;
    let notes = imported.notes;
    let model = Model {
        net: imported.net,
        config: imported.config,
        history: Vec::new(),
    };
    Ok((Trainer::from_model(model), notes))
}

/// Writes the simulator network of model-file text `model_toml` as a NIR file;
/// returns the notes (what NIR cannot say that was dropped).
#[pyfunction]
fn nir_export_network(py: Python<'_>, model_toml: &str, path: PathBuf) -> PyResult<Vec<String>> {
    let spec = spikelab_core::network::NetworkSpec::from_toml_str(
        model_toml,
        std::path::Path::new("<network>"),
    )
    .py()?;
    let r = py
        .detach(|| spikelab_train::nir::engine::export_network(&spec))
        .py()?;
    r.graph.write(&path).py()?;
    Ok(r.notes)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(nir_export_network, m)?)?;
    m.add_function(wrap_pyfunction!(nir_read_tree, m)?)?;
    m.add_function(wrap_pyfunction!(nir_write_tree, m)?)?;
    m.add_function(wrap_pyfunction!(nir_import, m)?)
}
