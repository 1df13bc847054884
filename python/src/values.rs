//! Python objects (dicts, lists, numbers, strings, numpy scalars and arrays) as TOML
//! values, so that a network or an encoder described with Python keyword arguments
//! goes through the same parser, defaults and error messages as a model file.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// `obj` as a TOML value; `path` names it in errors (`population[0].size`).
pub(crate) fn to_toml(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<toml::Value> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(obj.extract().map_err(|_| {
            PyTypeError::new_err(format!("`{path}`: integer out of the 64-bit range"))
        })?));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(obj.extract()?));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(obj.extract()?));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut table = toml::map::Map::new();
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| {
                PyTypeError::new_err(format!("`{path}`: dictionary keys must be strings"))
            })?;
            if v.is_none() {
                continue; // None = leave the field at its default
            }
            let sub = format!("{path}.{key}");
            table.insert(key, to_toml(&v, &sub)?);
        }
        return Ok(toml::Value::Table(table));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, v) in obj.try_iter()?.enumerate() {
            items.push(to_toml(&v?, &format!("{path}[{i}]"))?);
        }
        return Ok(toml::Value::Array(items));
    }
    // numpy scalars and arrays (and anything else with `tolist`).
    if obj.hasattr("tolist")? {
        let list = obj.call_method0("tolist")?;
        if !list.is(obj) {
            return to_toml(&list, path);
        }
    }
    Err(PyTypeError::new_err(format!(
        "`{path}`: cannot use a value of type {} (use numbers, strings, booleans, lists, dicts or numpy arrays)",
        obj.get_type().name()?
    )))
}

/// `obj` (a dict) as TOML text.
pub(crate) fn to_toml_text(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<String> {
    let value = to_toml(obj, path)?;
    if !value.is_table() {
        return Err(PyTypeError::new_err(format!("`{path}` must be a dict")));
    }
    toml::to_string(&value).map_err(|e| PyTypeError::new_err(format!("`{path}`: {e}")))
}

/// The TOML text of a dict (model files, encoder files), as the Rust libraries would
/// read it.
#[pyfunction]
fn dict_to_toml(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    to_toml_text(obj, "network")
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dict_to_toml, m)?)
}
