//! Export (placeholder while writing).
