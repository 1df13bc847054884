//! Datasets (IDX, event streams), transforms, download and cache.
