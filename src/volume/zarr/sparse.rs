//! Sparse OME-Zarr pyramids made in code, for the tests and benchmarks of volumes far larger
//! than the host: terabytes of logical size, a few balls with soft edges, and only the chunks
//! that hold part of one written (the rest read as the fill value, 0). Every level is written,
//! each evaluated at its own voxel centres, so the pyramid is what averaging would give up to
//! the smoothness of the edges.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use zarrs::array::ArrayBuilder;
use zarrs::array::codec::ZstdCodec;
use zarrs::array::data_type;
use zarrs::filesystem::FilesystemStore;
use zarrs::group::GroupBuilder;

use super::write::{COARSEST_SIDE, pyramid_attributes};

/// A ball of `value` (uint16) with an edge smoothed over one voxel of each level.
#[derive(Debug, Clone, Copy)]
pub struct Ball {
    /// Centre in mm from the first voxel's centre.
    pub centre: [f64; 3],
    pub radius: f64,
    pub value: u16,
}

/// Five balls of `radius` voxels spread over a volume of `side` x `side` x `side / 2` voxels of
/// 1 mm, of values 1000 to 1800: the stores of the benchmarks and `examples/sparse_store`.
pub fn five_balls(side: f64, radius: f64) -> Vec<Ball> {
    [
        (0.25, 0.25),
        (0.75, 0.25),
        (0.5, 0.5),
        (0.25, 0.75),
        (0.75, 0.75),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(fx, fy))| Ball {
        centre: [fx * side, fy * side, (0.3 + 0.1 * i as f64) * side / 2.0],
        radius,
        value: 1000 + 200 * i as u16,
    })
    .collect()
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct SparseReport {
    pub levels: usize,
    pub chunks: usize,
}

/// Writes a uint16 OME-Zarr 0.5 pyramid of `dims` voxels of `spacing` mm (isotropic) holding
/// `balls`, in chunks of `chunk` voxels a side, zstd-compressed, at `out` (which must not exist).
pub fn write_sparse(
    out: &Path,
    dims: [u64; 3],
    spacing: f64,
    balls: &[Ball],
    chunk: u64,
) -> Result<SparseReport, String> {
    if out.exists() {
        return Err(format!("{} exists already", out.display()));
    }
    let store = Arc::new(FilesystemStore::new(out).map_err(|e| e.to_string())?);
    let mut level_dims = vec![dims];
    while level_dims
        .last()
        .is_some_and(|d| d.iter().any(|&n| n > COARSEST_SIDE as u64))
    {
        let d = *level_dims.last().expect("one level");
        level_dims.push(d.map(|n| n.div_ceil(2)));
    }
    let mut chunks = 0;
    for (l, d) in level_dims.iter().enumerate() {
        let mut array = ArrayBuilder::new(
            vec![d[2], d[1], d[0]],
            vec![chunk; 3],
            data_type::uint16(),
            0u16,
        )
        .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))])
        .dimension_names(Some(["z", "y", "x"]))
        .build(store.clone(), &format!("/{l}"))
        .map_err(|e| e.to_string())?;
        array.store_metadata().map_err(|e| e.to_string())?;
        let f = (1u64 << l) as f64;
        let step = spacing * f;
        // Level-l voxel i sits at the centre of its 2^l box of level-0 voxels.
        let shift = spacing * (f - 1.0) / 2.0;
        let position = |i: u64| i as f64 * step + shift;
        // The chunks each ball's box (one voxel wider for the soft edge) touches.
        let mut wanted = BTreeSet::new();
        for b in balls {
            let range = |a: usize| {
                let lo = ((b.centre[a] - b.radius - shift) / step - 1.0).max(0.0) as u64;
                let hi =
                    (((b.centre[a] + b.radius - shift) / step + 1.0).max(0.0) as u64).min(d[a] - 1);
                (lo / chunk)..=(hi / chunk)
            };
            for z in range(2) {
                for y in range(1) {
                    for x in range(0) {
                        wanted.insert([z, y, x]);
                    }
                }
            }
        }
        chunks += wanted.len();
        let wanted: Vec<[u64; 3]> = wanted.into_iter().collect();
        let ranges: Vec<super::ranges::BlockRange> = wanted
            .par_iter()
            .map(|&[cz, cy, cx]| {
                let n = chunk as usize;
                let mut values = vec![0u16; n * n * n];
                for (k, plane) in values.chunks_exact_mut(n * n).enumerate() {
                    let z = position(cz * chunk + k as u64);
                    for (j, row) in plane.chunks_exact_mut(n).enumerate() {
                        let y = position(cy * chunk + j as u64);
                        for (i, v) in row.iter_mut().enumerate() {
                            let x = position(cx * chunk + i as u64);
                            for b in balls {
                                let [dx, dy, dz] =
                                    [x - b.centre[0], y - b.centre[1], z - b.centre[2]];
                                let r = (dx * dx + dy * dy + dz * dz).sqrt();
                                let inside = (0.5 + (b.radius - r) / step).clamp(0.0, 1.0);
                                let value = (inside * b.value as f64).round() as u16;
                                *v = (*v).max(value);
                            }
                        }
                    }
                }
                let lo = values.iter().copied().min().unwrap_or(0) as f64;
                let hi = values.iter().copied().max().unwrap_or(0) as f64;
                array
                    .store_chunk(&[cz, cy, cx], values)
                    .map_err(|e| e.to_string())?;
                Ok((cx as usize, cy as usize, cz as usize, lo, hi))
            })
            .collect::<Result<_, String>>()?;
        // The chunks written and their ranges; the others hold only zeros (see `ranges`).
        let stored = super::ranges::StoredRanges {
            block: [chunk as usize; 3],
            fill: [0.0, 0.0],
            blocks: ranges,
        };
        array
            .attributes_mut()
            .insert("gradvol".into(), serde_json::json!({ "ranges": stored }));
        array.store_metadata().map_err(|e| e.to_string())?;
    }
    let mut group = GroupBuilder::new()
        .build(store, "/")
        .map_err(|e| e.to_string())?;
    *group.attributes_mut() = pyramid_attributes([spacing; 3], [0.0; 3], level_dims.len(), None)?;
    group.store_metadata().map_err(|e| e.to_string())?;
    Ok(SparseReport {
        levels: level_dims.len(),
        chunks,
    })
}
