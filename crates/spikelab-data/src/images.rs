//! Labelled image sets in the MNIST family (MNIST, Fashion-MNIST, KMNIST): the
//! [`ImageSet`] type, the standard file names, and loading a split from a directory.
//!
//! A data root holds one folder per data set (`mnist/`, `fashion-mnist/`, `kmnist/`),
//! each with the four standard IDX files, gzip-compressed or not:
//! `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
//! `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]` (the spelling with a
//! dot, `train-images.idx3-ubyte`, is accepted too). [`load`] looks in `dir/<name>/`
//! and in `dir` itself.

use crate::error::{Error, Result};
use crate::idx::{read_idx_items, IdxArray};
use std::path::{Path, PathBuf};

/// Training or test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (`train-*`, 60,000 images in MNIST).
    Train,
    /// The test set (`t10k-*`, 10,000 images in MNIST).
    Test,
}

impl Split {
    /// File-name prefix (`train` or `t10k`).
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// Parses `train` or `test`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "test" | "t10k" => Ok(Split::Test),
            _ => Err(Error::Invalid(format!(
                "unknown split `{s}`; allowed: train, test"
            ))),
        }
    }
}

/// The image data sets in IDX format that Spikelab knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetName {
    /// Handwritten digits (LeCun et al. 1998).
    Mnist,
    /// Zalando clothing images (Xiao et al. 2017).
    FashionMnist,
    /// Kuzushiji (cursive Japanese) characters (Clanuwat et al. 2018).
    Kmnist,
}

impl DatasetName {
    /// Every known data set.
    pub const ALL: [DatasetName; 3] = [
        DatasetName::Mnist,
        DatasetName::FashionMnist,
        DatasetName::Kmnist,
    ];

    /// Names accepted by [`DatasetName::parse`].
    pub const NAMES: &'static str = "mnist, fashion-mnist, kmnist";

    /// Parses `mnist`, `fashion-mnist` (or `fashion_mnist`) or `kmnist`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetName::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" => Ok(DatasetName::FashionMnist),
            "kmnist" => Ok(DatasetName::Kmnist),
            _ => Err(Error::Invalid(format!(
                "unknown data set `{s}`; allowed: {}",
                Self::NAMES
            ))),
        }
    }

    /// Folder name under a data root (`mnist`, `fashion-mnist`, `kmnist`).
    pub fn dir_name(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Kmnist => "kmnist",
        }
    }

    /// Display name (`MNIST`, `Fashion-MNIST`, `KMNIST`).
    pub fn title(self) -> &'static str {
        match self {
            DatasetName::Mnist => "MNIST",
            DatasetName::FashionMnist => "Fashion-MNIST",
            DatasetName::Kmnist => "KMNIST",
        }
    }

    /// Names of the ten classes, by label.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetName::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetName::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetName::Kmnist => ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        }
    }
}

/// Standard IDX file names of a split: `(images, labels)` without `.gz`.
pub fn standard_files(split: Split) -> (String, String) {
    (
        format!("{}-images-idx3-ubyte", split.prefix()),
        format!("{}-labels-idx1-ubyte", split.prefix()),
    )
}

/// A set of labelled images, values as stored (u8, 0 = background): the one dataset
/// type of Spikelab, which the loaders return and the trainer, the converter and the
/// STDP recipes take (spikelab-train calls it `Dataset`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// Values of every image, `len × rows × cols × channels`, row-major, channels
    /// last.
    pub images: Vec<u8>,
    /// Label of every image.
    pub labels: Vec<u8>,
    /// Image height (pixels).
    pub rows: usize,
    /// Image width (pixels).
    pub cols: usize,
    /// Values per pixel (1 for grey-scale images).
    pub channels: usize,
}

impl ImageSet {
    /// Checks and pairs an image array (`n × rows × cols`, u8) with a label array
    /// (`n`, u8). `names` name the two sources in error messages.
    pub fn from_idx(images: IdxArray, labels: IdxArray, names: (&str, &str)) -> Result<Self> {
        if images.dims.len() != 3 {
            return Err(Error::format(
                names.0,
                "IDX image",
                format!(
                    "has {} dimensions {:?}; images need 3 (count × rows × columns)",
                    images.dims.len(),
                    images.dims
                ),
            ));
        }
        if labels.dims.len() != 1 {
            return Err(Error::format(
                names.1,
                "IDX label",
                format!(
                    "has {} dimensions {:?}; labels need 1 (count)",
                    labels.dims.len(),
                    labels.dims
                ),
            ));
        }
        let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
        if labels.dims[0] != n {
            return Err(Error::Invalid(format!(
                "{} has {n} images but {} has {} labels",
                names.0, names.1, labels.dims[0]
            )));
        }
        Ok(ImageSet {
            images: images.into_u8(names.0)?,
            labels: labels.into_u8(names.1)?,
            rows,
            cols,
            channels: 1,
        })
    }

    /// Loads an image file and a label file (IDX, raw or gzip), at most `limit` items.
    pub fn load(images: &Path, labels: &Path, limit: Option<usize>) -> Result<Self> {
        let (a, b) = rayon::join(
            || read_idx_items(images, limit),
            || read_idx_items(labels, limit),
        );
        ImageSet::from_idx(
            a?,
            b?,
            (&images.display().to_string(), &labels.display().to_string()),
        )
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// Values per image (`rows × cols × channels`).
    pub fn values_per_image(&self) -> usize {
        self.rows * self.cols * self.channels
    }

    /// Number of classes: the largest label + 1 (0 when empty).
    pub fn classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1)
    }

    /// The values of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.values_per_image();
        &self.images[i * n..(i + 1) * n]
    }

    /// Copies the images of `indices` into `out` (cleared first).
    pub fn gather(&self, indices: &[usize], out: &mut Vec<u8>) {
        out.clear();
        for &i in indices {
            out.extend_from_slice(self.image(i));
        }
    }

    /// The first `n` images (all if fewer), keeping this set's storage.
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.images.truncate(n * self.values_per_image());
        self.labels.truncate(n);
        self
    }

    /// Image `i` as intensities in `[0, 1]` (pixel / 255).
    pub fn image_f32(&self, i: usize) -> Vec<f32> {
        self.image(i).iter().map(|&p| p as f32 / 255.0).collect()
    }

    /// Writes the images `indices` as intensities in `[0, 1]` into `out`
    /// (`indices.len() × pixels`), e.g. a training batch for an encoder.
    pub fn batch_f32(&self, indices: &[usize], out: &mut [f32]) -> Result<()> {
        let p = self.values_per_image();
        if out.len() != indices.len() * p {
            return Err(Error::Invalid(format!(
                "batch_f32: output has {} values but {} images × {p} pixels = {}",
                out.len(),
                indices.len(),
                indices.len() * p
            )));
        }
        if let Some(&i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::Invalid(format!(
                "batch_f32: image index {i} is out of range 0..{}",
                self.len()
            )));
        }
        for (o, &i) in out.chunks_exact_mut(p.max(1)).zip(indices) {
            for (x, &px) in o.iter_mut().zip(self.image(i)) {
                *x = px as f32 / 255.0;
            }
        }
        Ok(())
    }

    /// The first `n` images (all if fewer).
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len());
        ImageSet {
            images: self.images[..n * self.values_per_image()].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
            channels: self.channels,
        }
    }

    /// Number of images of each label `0..=max label`.
    pub fn class_counts(&self) -> Vec<usize> {
        let n = self
            .labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let mut c = vec![0usize; n];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    /// Mean pixel intensity over all images, in `[0, 1]`.
    pub fn mean_intensity(&self) -> f64 {
        if self.images.is_empty() {
            return 0.0;
        }
        let sum: u64 = self
            .images
            .chunks(1 << 16)
            .map(|c| c.iter().map(|&p| p as u64).sum::<u64>())
            .sum();
        sum as f64 / self.images.len() as f64 / 255.0
    }

    /// Fraction of pixels that are not 0.
    pub fn nonzero_fraction(&self) -> f64 {
        if self.images.is_empty() {
            return 0.0;
        }
        self.images.iter().filter(|&&p| p != 0).count() as f64 / self.images.len() as f64
    }
}

/// The existing file among the accepted spellings of `stem` in `dir`.
fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [
        format!("{stem}.gz"),
        stem.to_string(),
        format!("{dotted}.gz"),
        dotted,
    ]
    .into_iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

/// The image and label files of `split` in `dir`: the data set's folder, or its
/// parent when exactly one of its sub-folders holds the files (`../shared/data` with
/// only `mnist/` in it); with several such sub-folders the error names them.
pub fn find_split_files(dir: &Path, split: Split) -> Result<(PathBuf, PathBuf)> {
    let found = find_split_files_in(dir, split);
    if found.is_ok() {
        return found;
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && find_split_files_in(p, split).is_ok())
        .collect();
    candidates.sort();
    match candidates.len() {
        0 => found,
        1 => find_split_files_in(&candidates[0], split),
        _ => Err(Error::NotFound(format!(
            "{} holds several data sets ({}): give the folder of one of them",
            dir.display(),
            candidates
                .iter()
                .map(|p| p
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The image and label files of `split` directly in `dir`.
fn find_split_files_in(dir: &Path, split: Split) -> Result<(PathBuf, PathBuf)> {
    let (img, lab) = standard_files(split);
    match (find_file(dir, &img), find_file(dir, &lab)) {
        (Some(a), Some(b)) => Ok((a, b)),
        (a, _) => Err(Error::NotFound(format!(
            "no {} file in {}: expected {}[.gz]",
            if a.is_none() { "image" } else { "label" },
            dir.display(),
            if a.is_none() { img } else { lab }
        ))),
    }
}

/// Loads a split of the MNIST-format files in `dir` (see [`find_split_files`]).
pub fn load_mnist(dir: &Path, split: Split) -> Result<ImageSet> {
    let (img, lab) = find_split_files(dir, split)?;
    ImageSet::load(&img, &lab, None)
}

/// Loads a split of data set `name` from a data root: from `root/<dir name>/` or, if
/// the files are not there, from `root` itself; at most `limit` images.
pub fn load(
    root: &Path,
    name: DatasetName,
    split: Split,
    limit: Option<usize>,
) -> Result<ImageSet> {
    // Named: its own folder under the root, or the root itself (never another data
    // set's folder).
    let sub = root.join(name.dir_name());
    let found = find_split_files_in(&sub, split).or_else(|_| find_split_files_in(root, split));
    match found {
        Ok((img, lab)) => ImageSet::load(&img, &lab, limit),
        Err(_) => {
            let (img, lab) = standard_files(split);
            Err(Error::NotFound(format!(
                "{} {} files not found in {} or {}: expected {img}[.gz] and {lab}[.gz]; download them with `spikelab data fetch {} --dir {}`",
                name.title(),
                split.name(),
                sub.display(),
                root.display(),
                name.dir_name(),
                root.display()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::write_idx;

    /// Writes a tiny data set (`n` images of 2×3) to `dir` and returns it.
    fn write_set(dir: &Path, split: Split, n: usize, gzip: bool) -> ImageSet {
        let set = ImageSet {
            images: (0..n * 6).map(|k| (k * 37 % 256) as u8).collect(),
            labels: (0..n).map(|k| (k % 3) as u8).collect(),
            rows: 2,
            cols: 3,
            channels: 1,
        };
        let (img, lab) = standard_files(split);
        let sfx = if gzip { ".gz" } else { "" };
        write_idx(
            &dir.join(format!("{img}{sfx}")),
            &IdxArray::from_u8(vec![n, 2, 3], set.images.clone()).unwrap(),
            gzip,
        )
        .unwrap();
        write_idx(
            &dir.join(format!("{lab}{sfx}")),
            &IdxArray::from_u8(vec![n], set.labels.clone()).unwrap(),
            gzip,
        )
        .unwrap();
        set
    }

    #[test]
    fn loads_splits_by_standard_names_with_or_without_gz() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("fashion-mnist");
        std::fs::create_dir(&dir).unwrap();
        let train = write_set(&dir, Split::Train, 7, true);
        let test = write_set(&dir, Split::Test, 4, false);
        assert_eq!(load_mnist(&dir, Split::Train).unwrap(), train);
        assert_eq!(load_mnist(&dir, Split::Test).unwrap(), test);
        let l = load(
            root.path(),
            DatasetName::FashionMnist,
            Split::Train,
            Some(3),
        )
        .unwrap();
        assert_eq!(l, train.take(3));
        assert_eq!(l.class_counts(), vec![1, 1, 1]);
        // The data root can also be the folder itself.
        assert_eq!(
            load(&dir, DatasetName::FashionMnist, Split::Test, None).unwrap(),
            test
        );
        let e = load(root.path(), DatasetName::Kmnist, Split::Train, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("KMNIST train files not found") && e.contains("spikelab data fetch kmnist"),
            "{e}"
        );
    }

    #[test]
    fn the_parent_folder_of_one_data_set_is_accepted_and_of_several_refused() {
        let root = tempfile::tempdir().unwrap();
        let mnist = root.path().join("mnist");
        std::fs::create_dir(&mnist).unwrap();
        let test = write_set(&mnist, Split::Test, 4, false);
        assert_eq!(load_mnist(root.path(), Split::Test).unwrap(), test);
        let fashion = root.path().join("fashion-mnist");
        std::fs::create_dir(&fashion).unwrap();
        write_set(&fashion, Split::Test, 2, false);
        let e = load_mnist(root.path(), Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("several data sets") && e.contains("fashion-mnist, mnist"),
            "{e}"
        );
        assert_eq!(load_mnist(&mnist, Split::Test).unwrap(), test);
    }

    #[test]
    fn mismatched_files_are_rejected_with_both_names() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), Split::Train, 5, false);
        let (_, lab) = standard_files(Split::Train);
        write_idx(
            &dir.path().join(&lab),
            &IdxArray::from_u8(vec![4], vec![0; 4]).unwrap(),
            false,
        )
        .unwrap();
        let e = load_mnist(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(e.contains("5 images") && e.contains("4 labels"), "{e}");
        // Labels given as images.
        let (img, _) = standard_files(Split::Train);
        std::fs::copy(dir.path().join(&img), dir.path().join(&lab)).unwrap();
        let e = load_mnist(dir.path(), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(e.contains("labels need 1"), "{e}");
    }

    #[test]
    fn statistics_and_batches() {
        let set = ImageSet {
            images: vec![0, 255, 0, 51, 0, 0, 0, 0],
            labels: vec![1, 1],
            rows: 2,
            cols: 2,
            channels: 1,
        };
        assert!((set.mean_intensity() - 306.0 / 8.0 / 255.0).abs() < 1e-12);
        assert_eq!(set.nonzero_fraction(), 0.25);
        assert_eq!(set.class_counts(), vec![0, 2]);
        let mut out = vec![0f32; 8];
        set.batch_f32(&[1, 0], &mut out).unwrap();
        assert_eq!(&out[4..], &[0.0, 1.0, 0.0, 0.2]);
        assert!(set.batch_f32(&[2], &mut out[..4]).is_err());
        assert!(Split::parse("valid").is_err());
        assert_eq!(
            DatasetName::parse("Fashion_MNIST").unwrap(),
            DatasetName::FashionMnist
        );
    }
}
