//! What the benchmarks share: the sample volumes, and the 100-Mvoxel CT made from one.

use std::path::{Path, PathBuf};

use gradvol::volume::{self, LoadOptions, VoxelData};

/// A file of data/ (scripts/fetch-sample-data.sh), or `None` with a note.
pub fn data(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping {name}: run scripts/fetch-sample-data.sh");
        None
    }
}

/// The chest CT resampled to 512x512x384 int16: about 100 Mvoxel.
pub fn big_ct(lung: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let path = dir.join("lung1_512x512x384.nrrd");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let v = volume::load(lung, &LoadOptions::default()).unwrap();
    let VoxelData::Int16(values) = &v.data else {
        panic!("lung1 is int16")
    };
    let [nx, ny, nz] = v.dims;
    let depth = 384;
    let plane = nx * ny;
    let mut bytes = Vec::with_capacity(2 * plane * depth);
    for k in 0..depth {
        let z = k as f64 * (nz - 1) as f64 / (depth - 1) as f64;
        let (z0, t) = (z.floor() as usize, z.fract());
        let z1 = (z0 + 1).min(nz - 1);
        for i in 0..plane {
            let a = values[z0 * plane + i] as f64;
            let b = values[z1 * plane + i] as f64;
            bytes.extend_from_slice(&((a + (b - a) * t).round() as i16).to_le_bytes());
        }
    }
    let spacing = v.spacing;
    let dz = spacing[2] * (nz - 1) as f64 / (depth - 1) as f64;
    let header = format!(
        "NRRD0004\ntype: int16\ndimension: 3\nsizes: {nx} {ny} {depth}\nendian: little\n\
         encoding: raw\nspace: left-posterior-superior\n\
         space directions: ({},0,0) (0,{},0) (0,0,{dz})\nspace origin: (0,0,0)\n\n",
        spacing[0], spacing[1]
    );
    let mut file = header.into_bytes();
    file.extend_from_slice(&bytes);
    std::fs::write(&path, file).unwrap();
    path
}
