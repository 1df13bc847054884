//! The IDX format of MNIST, Fashion-MNIST and KMNIST, raw or gzip-compressed
//! (detected by the gzip magic bytes `1f 8b`, not by the file name).
//!
//! ```text
//! offset 0   u8  0, u8 0               magic: two zero bytes
//!        2   u8  type                  0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//!        3   u8  n_dims                >= 1
//!        4   u32 size[0 .. n_dims]      big-endian
//!        …   data                       Π size × element size, big-endian, C order
//! ```
//!
//! The reader never trusts the header for allocation (memory grows with the data
//! actually present) and reports a truncated file, trailing bytes, a bad magic number
//! or an unknown type with the file name and what was expected. It never panics,
//! whatever the bytes (fuzzed in `tests/fuzz.rs`).

use crate::error::{Error, Result};
use flate2::bufread::MultiGzDecoder;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

const FORMAT: &str = "IDX";

/// Element type of an IDX array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxType {
    /// Unsigned byte (code 0x08).
    U8,
    /// Signed byte (0x09).
    I8,
    /// Big-endian i16 (0x0B).
    I16,
    /// Big-endian i32 (0x0C).
    I32,
    /// Big-endian f32 (0x0D).
    F32,
    /// Big-endian f64 (0x0E).
    F64,
}

impl IdxType {
    /// The type of a header code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    /// The header code.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// Name for messages (`u8`, `f32` ...).
    pub fn name(self) -> &'static str {
        match self {
            IdxType::U8 => "u8",
            IdxType::I8 => "i8",
            IdxType::I16 => "i16",
            IdxType::I32 => "i32",
            IdxType::F32 => "f32",
            IdxType::F64 => "f64",
        }
    }
}

/// The elements of an IDX array, in C order.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// u8 elements.
    U8(Vec<u8>),
    /// i8 elements.
    I8(Vec<i8>),
    /// i16 elements.
    I16(Vec<i16>),
    /// i32 elements.
    I32(Vec<i32>),
    /// f32 elements.
    F32(Vec<f32>),
    /// f64 elements.
    F64(Vec<f64>),
}

/// An n-dimensional IDX array.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Size of each dimension (the first is the item count: images, labels).
    pub dims: Vec<usize>,
    /// The elements.
    pub data: IdxData,
}

impl IdxArray {
    /// A u8 array (images or labels).
    pub fn from_u8(dims: Vec<usize>, data: Vec<u8>) -> Result<Self> {
        let n: usize = dims.iter().product();
        if n != data.len() {
            return Err(Error::Invalid(format!(
                "IDX array: dims {dims:?} hold {n} elements but {} were given",
                data.len()
            )));
        }
        Ok(IdxArray {
            dims,
            data: IdxData::U8(data),
        })
    }

    /// Element type.
    pub fn dtype(&self) -> IdxType {
        match &self.data {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The u8 elements, or an error naming `what` if the type is another.
    pub fn into_u8(self, what: &str) -> Result<Vec<u8>> {
        match self.data {
            IdxData::U8(v) => Ok(v),
            _ => Err(Error::format(
                what,
                FORMAT,
                format!(
                    "holds {} elements; u8 (type 0x08) expected",
                    self.dtype().name()
                ),
            )),
        }
    }

    /// The array in IDX format (uncompressed).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.dims.is_empty() || self.dims.len() > 255 {
            return Err(Error::Invalid(format!(
                "IDX arrays have 1 to 255 dimensions (got {})",
                self.dims.len()
            )));
        }
        if let Some(d) = self.dims.iter().find(|&&d| d > u32::MAX as usize) {
            return Err(Error::Invalid(format!(
                "IDX dimension {d} does not fit in 32 bits"
            )));
        }
        let n: usize = self.dims.iter().product();
        if n != self.len() {
            return Err(Error::Invalid(format!(
                "IDX array: dims {:?} hold {n} elements but the data has {}",
                self.dims,
                self.len()
            )));
        }
        let mut out = Vec::with_capacity(4 + 4 * self.dims.len() + n * self.dtype().size());
        out.extend_from_slice(&[0, 0, self.dtype().code(), self.dims.len() as u8]);
        for &d in &self.dims {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        match &self.data {
            IdxData::U8(v) => out.extend_from_slice(v),
            IdxData::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
            IdxData::I16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            IdxData::I32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            IdxData::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            IdxData::F64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        }
        Ok(out)
    }
}

/// Parses an IDX array from bytes (raw or gzip). Errors call the input "input".
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray> {
    decode(bytes, "input", None)
}

/// Reads an IDX file (raw or gzip).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    read_idx_items(path, None)
}

/// Reads at most `max_items` items (along the first dimension) of an IDX file; with a
/// limit the rest of the file is not read (nor checked).
pub fn read_idx_items(path: &Path, max_items: Option<usize>) -> Result<IdxArray> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    decode(
        BufReader::with_capacity(1 << 20, file),
        &path.display().to_string(),
        max_items,
    )
}

/// Writes an IDX file atomically (temporary file renamed into place), gzip-compressed
/// if `gzip`.
pub fn write_idx(path: &Path, array: &IdxArray, gzip: bool) -> Result<()> {
    let bytes = array.to_bytes()?;
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            enc.write_all(&bytes)?;
            enc.finish()?;
        } else {
            w.write_all(&bytes)?;
        }
        Ok(())
    };
    spikelab_core::io::write_atomic_with(path, |w| {
        write(w).map_err(|e| Error::io("cannot write", path, e))
    })
}

/// Is this the start of a gzip stream?
pub(crate) fn is_gzip(start: &[u8]) -> bool {
    start.starts_with(&[0x1f, 0x8b])
}

/// Wraps `reader` in a gzip decoder if its first bytes are the gzip magic.
pub(crate) fn maybe_gunzip<'a, R: BufRead + 'a>(
    mut reader: R,
) -> std::io::Result<Box<dyn Read + 'a>> {
    let gz = is_gzip(reader.fill_buf()?);
    Ok(if gz {
        Box::new(MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Reads exactly `buf.len()` bytes or returns how many were available.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn decode<R: BufRead>(reader: R, name: &str, max_items: Option<usize>) -> Result<IdxArray> {
    let fmt = |m: String| Error::format(name, FORMAT, m);
    let io_err = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::InvalidInput
            || e.kind() == std::io::ErrorKind::InvalidData
        {
            fmt(format!("corrupt gzip stream ({e})"))
        } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
            fmt(format!(
                "gzip stream ends early ({e}); the file is truncated"
            ))
        } else {
            Error::io("cannot read", name, e)
        }
    };
    let mut r = maybe_gunzip(reader).map_err(io_err)?;
    let mut magic = [0u8; 4];
    let got = read_full(&mut r, &mut magic).map_err(io_err)?;
    if got < 4 {
        return Err(fmt(format!(
            "it has only {got} bytes; an IDX file starts with a 4-byte magic number"
        )));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(fmt(format!(
            "bad magic number 0x{:02x}{:02x}{:02x}{:02x}: the first two bytes must be 0",
            magic[0], magic[1], magic[2], magic[3]
        )));
    }
    let dtype = IdxType::from_code(magic[2]).ok_or_else(|| {
        fmt(format!(
            "unknown data type code 0x{:02x} (allowed: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)",
            magic[2]
        ))
    })?;
    let n_dims = magic[3] as usize;
    if n_dims == 0 {
        return Err(fmt(
            "the header declares 0 dimensions (at least 1 needed)".into()
        ));
    }
    let mut dim_bytes = vec![0u8; 4 * n_dims];
    let got = read_full(&mut r, &mut dim_bytes).map_err(io_err)?;
    if got < dim_bytes.len() {
        return Err(fmt(format!(
            "the header declares {n_dims} dimensions but the file ends after {got} of their {} size bytes (truncated?)",
            dim_bytes.len()
        )));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let overflow = || {
        fmt(format!(
            "dimensions {dims:?} are too large (size overflows)"
        ))
    };
    let item_elems = dims[1..]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let total_elems = item_elems.checked_mul(dims[0]).ok_or_else(overflow)?;
    let total_bytes = total_elems.checked_mul(dtype.size()).ok_or_else(overflow)?;
    let items = max_items.map_or(dims[0], |m| m.min(dims[0]));
    let want_bytes = items * item_elems * dtype.size();
    let mut data = Vec::with_capacity(want_bytes.min(64 << 20));
    (&mut r)
        .take(want_bytes as u64)
        .read_to_end(&mut data)
        .map_err(io_err)?;
    if data.len() < want_bytes {
        return Err(fmt(format!(
            "the header declares dimensions {dims:?} ({total_bytes} bytes of {}) but only {} data bytes follow (truncated?)",
            dtype.name(),
            data.len()
        )));
    }
    if max_items.is_none() {
        let mut extra = [0u8; 4096];
        let n = read_full(&mut r, &mut extra).map_err(io_err)?;
        if n > 0 {
            return Err(fmt(format!(
                "{}{n} unexpected bytes after the {total_bytes} data bytes the header declares",
                if n == extra.len() { "at least " } else { "" }
            )));
        }
    }
    let mut dims = dims;
    dims[0] = items;
    let data = match dtype {
        IdxType::U8 => IdxData::U8(data),
        IdxType::I8 => IdxData::I8(data.into_iter().map(|b| b as i8).collect()),
        IdxType::I16 => IdxData::I16(
            data.chunks_exact(2)
                .map(|c| i16::from_be_bytes([c[0], c[1]]))
                .collect(),
        ),
        IdxType::I32 => IdxData::I32(
            data.chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        IdxType::F32 => IdxData::F32(
            data.chunks_exact(4)
                .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        IdxType::F64 => IdxData::F64(
            data.chunks_exact(8)
                .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
    };
    Ok(IdxArray { dims, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn images() -> IdxArray {
        IdxArray::from_u8(vec![3, 2, 2], (0..12).collect()).unwrap()
    }

    #[test]
    fn u8_arrays_round_trip_raw_and_gzip() {
        let a = images();
        let bytes = a.to_bytes().unwrap();
        assert_eq!(&bytes[..8], &[0, 0, 8, 3, 0, 0, 0, 3]);
        assert_eq!(parse_idx(&bytes).unwrap(), a);
        assert_eq!(parse_idx(&gz(&bytes)).unwrap(), a);
    }

    #[test]
    fn every_type_round_trips_big_endian() {
        let arrays = [
            IdxData::I8(vec![-3, 4]),
            IdxData::I16(vec![-300, 4000]),
            IdxData::I32(vec![-70000, 1 << 30]),
            IdxData::F32(vec![-1.5, 3.25e-7]),
            IdxData::F64(vec![std::f64::consts::PI, -0.0]),
        ];
        for data in arrays {
            let a = IdxArray {
                dims: vec![2],
                data,
            };
            let b = a.to_bytes().unwrap();
            assert_eq!(parse_idx(&b).unwrap(), a);
        }
        // Big-endian on disk: i16 -300 = 0xFED4.
        let b = IdxArray {
            dims: vec![1],
            data: IdxData::I16(vec![-300]),
        }
        .to_bytes()
        .unwrap();
        assert_eq!(&b[8..], &[0xFE, 0xD4]);
    }

    #[test]
    fn bad_files_give_errors_that_say_what_is_wrong() {
        let good = images().to_bytes().unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "only 0 bytes"),
            (vec![0, 0], "only 2 bytes"),
            (vec![1, 0, 8, 1, 0, 0, 0, 0], "bad magic"),
            (
                vec![0, 0, 0x07, 1, 0, 0, 0, 0],
                "unknown data type code 0x07",
            ),
            (vec![0, 0, 8, 0], "0 dimensions"),
            (good[..10].to_vec(), "ends after 6 of their 12 size bytes"),
            (good[..good.len() - 1].to_vec(), "only 11 data bytes follow"),
            ([good.clone(), vec![9, 9]].concat(), "2 unexpected bytes"),
            (
                vec![0, 0, 8, 2, 255, 255, 255, 255, 0, 0, 0, 16],
                "only 0 data bytes",
            ),
            (
                vec![
                    0, 0, 0x0E, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                ],
                "too large",
            ),
            (gz(&good)[..20].to_vec(), "truncated"),
        ];
        for (bytes, want) in cases {
            let e = parse_idx(&bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{bytes:?}: `{e}` lacks `{want}`");
            assert!(e.contains("input is not a valid IDX file"), "{e}");
        }
    }

    #[test]
    fn files_are_read_by_content_not_name_and_prefixes_stop_early() {
        let dir = tempfile::tempdir().unwrap();
        let a = images();
        // A gzip file without .gz and a raw file with .gz both load.
        let p = dir.path().join("images-idx3-ubyte");
        write_idx(&p, &a, true).unwrap();
        assert_eq!(read_idx(&p).unwrap(), a);
        let q = dir.path().join("raw.gz");
        write_idx(&q, &a, false).unwrap();
        assert_eq!(read_idx(&q).unwrap(), a);
        let first = read_idx_items(&p, Some(2)).unwrap();
        assert_eq!(first.dims, vec![2, 2, 2]);
        assert_eq!(first.into_u8("x").unwrap(), (0..8).collect::<Vec<u8>>());
        let e = read_idx(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot open") && e.contains("missing"), "{e}");
    }
}
