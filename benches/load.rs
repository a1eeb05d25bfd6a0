//! Load speed: how fast each format opens, against the floor of simply decompressing (or
//! reading) the same bytes. Prints a table; run with `cargo bench --bench load`.
//!
//! Volumes: a 256^3 int16 CT-like phantom written as raw NRRD, gzip NRRD and .nii.gz, and the
//! real lung CT from data/ when scripts/fetch-sample-data.sh has fetched it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gradvol::volume::{self, LoadOptions};

const N: usize = 256;
const RUNS: usize = 5;

/// A smooth body with bone-like shells and a little noise: compresses like real CT.
fn phantom() -> Vec<i16> {
    let mut v = Vec::with_capacity(N * N * N);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let c = N as f64 / 2.0;
    for z in 0..N {
        for y in 0..N {
            for x in 0..N {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let noise = (seed % 21) as i16 - 10;
                let (dx, dy, dz) = (x as f64 - c, y as f64 - c, (z as f64 - c) * 0.8);
                let r = (dx * dx + dy * dy + dz * dz).sqrt() / c;
                let value = if r > 0.9 {
                    -1000
                } else if r > 0.8 {
                    1200
                } else if ((dx / 9.0).sin() * (dy / 11.0).cos()) > 0.7 {
                    300
                } else {
                    40
                };
                v.push(value + noise);
            }
        }
    }
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn nifti_header(n: usize) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (k, d) in [3i16, n as i16, n as i16, n as i16, 1, 1, 1, 1]
        .iter()
        .enumerate()
    {
        h[40 + 2 * k..42 + 2 * k].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&4i16.to_le_bytes());
    h[72..74].copy_from_slice(&16i16.to_le_bytes());
    for k in 0..8 {
        h[76 + 4 * k..80 + 4 * k].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

fn best_of(mut f: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// The floor: decompress (or read) the payload, which starts at byte `start`, into a fresh
/// buffer of the volume's size, as any loader must, and nothing more.
fn floor(path: &Path, start: u64, gz: bool, bytes: usize) -> Duration {
    best_of(|| {
        let mut file = std::fs::File::open(path).unwrap();
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start)).unwrap();
        let file = std::io::BufReader::with_capacity(1 << 20, file);
        let mut reader: Box<dyn Read> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut out = vec![0u8; bytes];
        reader.read_exact(&mut out).unwrap();
        std::hint::black_box(&out);
    })
}

/// Where a NRRD's data starts: after the first blank line. Zero for other files.
fn payload_start(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    if !bytes.starts_with(b"NRRD") {
        return 0;
    }
    bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(0, |i| i as u64 + 2)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let voxels = phantom();
    let raw: &[u8] = bytemuck::cast_slice(&voxels);
    let header = format!(
        "NRRD0004\ntype: short\ndimension: 3\nsizes: {N} {N} {N}\nendian: little\n\
         space: left-posterior-superior\nspace directions: (0.7,0,0) (0,0.7,0) (0,0,1.25)\n"
    );
    let mut files: Vec<(String, PathBuf, bool)> = Vec::new();
    let write = |name: &str, bytes: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut nrrd_raw = format!("{header}encoding: raw\n\n").into_bytes();
    nrrd_raw.extend_from_slice(raw);
    files.push((
        "phantom 256^3 int16 raw NRRD".into(),
        write("raw.nrrd", nrrd_raw),
        false,
    ));
    let mut nrrd_gz = format!("{header}encoding: gzip\n\n").into_bytes();
    nrrd_gz.extend(gzip(raw));
    files.push((
        "phantom 256^3 int16 gzip NRRD".into(),
        write("gz.nrrd", nrrd_gz),
        true,
    ));
    let mut nii = nifti_header(N);
    nii.extend_from_slice(raw);
    files.push((
        "phantom 256^3 int16 .nii.gz".into(),
        write("v.nii.gz", gzip(&nii)),
        true,
    ));
    let lung = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/lung1_image.nrrd");
    if lung.is_file() {
        files.push(("lung1 CT 512x512x48 gzip NRRD".into(), lung, true));
    } else {
        eprintln!(
            "(data/lung1_image.nrrd missing: run scripts/fetch-sample-data.sh to include it)"
        );
    }

    println!(
        "{:<32} {:>9} {:>10} {:>10} {:>12} {:>12} {:>9}",
        "volume", "MB", "file MB", "load ms", "load MB/s", "floor MB/s", "of floor"
    );
    for (name, path, gz) in &files {
        let opts = LoadOptions::default();
        let v = volume::load(path, &opts).unwrap();
        let mb = v.data.as_bytes().len() as f64 / 1e6;
        let file_mb = std::fs::metadata(path).unwrap().len() as f64 / 1e6;
        let t = best_of(|| {
            std::hint::black_box(volume::load(path, &opts).unwrap());
        });
        let f = floor(path, payload_start(path), *gz, v.data.as_bytes().len());
        let rate = mb / t.as_secs_f64();
        let floor_rate = mb / f.as_secs_f64();
        println!(
            "{:<32} {:>9.1} {:>10.1} {:>10.1} {:>12.0} {:>12.0} {:>8.0}%",
            name,
            mb,
            file_mb,
            t.as_secs_f64() * 1e3,
            rate,
            floor_rate,
            100.0 * rate / floor_rate
        );
    }
    println!(
        "\nload = gradvol's whole load (header, decompression, byte order, value range), best of \
         {RUNS};\nfloor = decompressing (or reading) the same bytes into a fresh buffer of the \
         volume's size with flate2 (zlib-rs), one thread, and nothing else."
    );
}
