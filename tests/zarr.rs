//! OME-Zarr in and out: `convert` round trips (voxels, frame, every codec, sharded or not, the
//! pyramid's levels against a CPU oracle), stores written by zarr-python and ome-zarr-py, those
//! libraries reading gradvol's stores, the same store over HTTP from a server on 127.0.0.1, the
//! real CT and MRI converted and rendered exactly as their sources, and broken stores refused
//! with one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::http::{Faults, Server};
use common::{Rng, random_voxels, sample_data_dir};
use glam::{DMat3, DVec3};
use gradvol::gradient::{Operator, cpu};
use gradvol::volume::zarr::{Codec, ConvertOptions, Location, Pyramid, convert};
use gradvol::volume::{
    self, DType, Decoded, Endian, Format, LoadOptions, Space, Volume, VoxelData,
};

fn gradvol(args: &[&str]) -> Output {
    common::run_gradvol(env!("CARGO_BIN_EXE_gradvol"), args)
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "gradvol failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The Python with zarr-python, numcodecs and ome-zarr-py: GRADVOL_PYTHON, else the environment
/// scripts/python-test-env.sh makes. Missing is a failure that says how to make it.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("GRADVOL_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/zarr-venv/bin/python");
    assert!(
        venv.is_file(),
        "no Python with zarr and ome-zarr at {}: run scripts/python-test-env.sh first (or set \
         GRADVOL_PYTHON)",
        venv.display()
    );
    venv
}

fn fixtures(args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ome_zarr_fixtures.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python fixture script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// An oblique RAS volume of `dims` holding `data`, placed away from the origin.
fn oblique(dims: [usize; 3], data: VoxelData) -> Volume {
    let axes = DMat3::from_rotation_z(0.3) * DMat3::from_rotation_x(-0.2);
    Volume::from_geometry(
        dims,
        [0.7, 1.1, 2.5],
        axes,
        DVec3::new(-120.25, 33.5, 801.125),
        Space::Ras,
        Decoded::scan(data),
        Format::Nifti,
    )
    .unwrap()
}

fn load_level(path: &Path, level: Option<usize>) -> Volume {
    volume::load(
        path,
        &LoadOptions {
            level,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{} level {level:?} should load: {e}", path.display()))
}

/// The 2x2x2 mean of `v` (NaN and partial boxes as the writer documents), written plainly.
fn halved(v: &Volume) -> (Vec<f64>, [usize; 3]) {
    let [nx, ny, nz] = v.dims;
    let d = v.dims.map(|n| n.div_ceil(2));
    let mut out = Vec::new();
    for k in 0..d[2] {
        for j in 0..d[1] {
            for i in 0..d[0] {
                let mut vals = Vec::new();
                for z in 2 * k..(2 * k + 2).min(nz) {
                    for y in 2 * j..(2 * j + 2).min(ny) {
                        for x in 2 * i..(2 * i + 2).min(nx) {
                            let s = v.data.get_f64(x + nx * (y + ny * z));
                            if s.is_finite() {
                                vals.push(s);
                            }
                        }
                    }
                }
                out.push(if vals.is_empty() {
                    f64::NAN
                } else {
                    vals.iter().sum::<f64>() / vals.len() as f64
                });
            }
        }
    }
    (out, d)
}

#[test]
fn convert_round_trips_voxels_frame_and_levels_for_every_codec() {
    let dims = [300, 37, 20];
    let n = dims.iter().product();
    let mut rng = Rng(11);
    let cases = [
        (DType::Int16, Codec::Zstd, 16, 4),
        (DType::Uint16, Codec::Blosc, 32, 1),
        (DType::Uint8, Codec::Gzip, 16, 2),
        (DType::Float, Codec::None, 64, 1),
    ];
    for (dtype, codec, chunk, shard) in cases {
        let mut data = random_voxels(dtype, n, &mut rng);
        if let VoxelData::Float(v) = &mut data {
            v[5] = f32::NAN;
        }
        let source = oblique(dims, data);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("v.ome.zarr");
        let options = ConvertOptions {
            chunk,
            shard,
            codec,
            // One case stores |grad f| too.
            gradient: (dtype == DType::Int16).then_some(Operator::Central),
            min_levels: 1,
        };
        convert(&source, &out, options, &|_, _| {}).unwrap();
        let what = format!("{dtype} {codec:?} chunk {chunk} shard {shard}");

        let back = load_level(&out, None);
        assert_eq!(back.format, Format::OmeZarr);
        assert_eq!(back.dims, dims, "{what}");
        assert_eq!(back.data.dtype(), dtype, "{what}");
        assert!(
            back.data.as_bytes() == source.data.as_bytes(),
            "{what}: the voxels changed"
        );
        assert_eq!(back.space, Space::Ras, "{what}");
        common::assert_mat4_close(back.world_from_voxel, source.world_from_voxel, 1e-9);
        let pyramid = back.pyramid.as_ref().unwrap();
        assert_eq!((pyramid.levels.len(), pyramid.level), (2, 0), "{what}");

        // Level 1: the 2x2x2 mean (rounded for integers), centred on its box.
        let coarse = load_level(&out, Some(1));
        let (expect, d) = halved(&source);
        assert_eq!(coarse.dims, d, "{what}");
        assert_eq!(coarse.data.dtype(), dtype, "{what}");
        for (i, e) in expect.iter().enumerate() {
            let got = coarse.data.get_f64(i);
            let want = if dtype == DType::Float { *e } else { e.round() };
            let same = (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-3 * want.abs();
            assert!(
                same,
                "{what}: level 1 voxel {i} is {got}, the mean is {want}"
            );
        }
        let m = source.world_from_voxel;
        let centre = m.transform_point3(DVec3::splat(0.5));
        assert!((coarse.origin() - centre).length() < 1e-9, "{what}");
        let axes = coarse.directions();
        assert!((axes.x_axis - source.directions().x_axis).length() < 1e-12);
        assert_eq!(coarse.spacing, source.spacing.map(|s| s * 2.0), "{what}");

        // The stored |grad f|: level 0 is the CPU path's, bit for bit; level 1 the largest of
        // each 2x2x2 box.
        let pyramid = Pyramid::open(&Location::Folder(out.clone())).unwrap();
        // The blocks' value ranges kept in the attributes: level 0's whole range is the
        // volume's, and a region's range holds every value read from it.
        assert_eq!(pyramid.known_range(), Some(source.range), "{what}");
        let (first, last) = ([3, 1, 2], [20, 9, 6]);
        let region = pyramid
            .read_region(0, [0, 1, 2].map(|a| first[a] as u64..last[a] as u64 + 1))
            .unwrap();
        let known = pyramid.known_range_of(0, first, last).unwrap();
        for i in 0..region.len() {
            let v = region.get_f64(i);
            assert!(
                known[0] <= v && v <= known[1],
                "{what}: {v} outside {known:?}"
            );
        }
        if options.gradient.is_none() {
            assert_eq!(pyramid.stored_gradient(), None);
            continue;
        }
        assert_eq!(pyramid.stored_gradient(), Some(Operator::Central));
        let whole = cpu::gradient_magnitude(&source, Operator::Central);
        let all = |d: [usize; 3]| d.map(|n| 0..n as u64);
        let g0 = pyramid.read_gradient_region(0, all(dims)).unwrap();
        assert!(g0 == whole, "{what}: stored level 0 |grad f|");
        let g1 = pyramid.read_gradient_region(1, all(d)).unwrap();
        let [nx, ny, nz] = dims;
        for (i, &got) in g1.iter().enumerate() {
            let [x, y, z] = [i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])];
            let mut want = f32::MIN;
            for k in 2 * z..(2 * z + 2).min(nz) {
                for j in 2 * y..(2 * y + 2).min(ny) {
                    for h in 2 * x..(2 * x + 2).min(nx) {
                        want = want.max(whole[h + nx * (j + ny * k)]);
                    }
                }
            }
            assert_eq!(got, want, "{what}: level 1 |grad f| at {i}");
        }
    }
}

#[test]
fn convert_refuses_an_existing_output_and_bad_options_leaving_nothing() {
    let mut rng = Rng(3);
    let v = oblique([20, 20, 20], random_voxels(DType::Int16, 8000, &mut rng));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.ome.zarr");
    std::fs::create_dir(&out).unwrap();
    let e = convert(&v, &out, ConvertOptions::default(), &|_, _| {}).unwrap_err();
    assert!(e.to_string().contains("exists already"), "{e}");
    let other = dir.path().join("w.ome.zarr");
    for (chunk, shard) in [(4, 1), (64, 0), (2000, 1)] {
        let options = ConvertOptions {
            chunk,
            shard,
            codec: Codec::Zstd,
            gradient: None,
            min_levels: 1,
        };
        assert!(convert(&v, &other, options, &|_, _| {}).is_err());
    }
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "only the folder made by the test is there");
}

#[test]
fn stores_written_by_zarr_python_and_ome_zarr_py_open_with_their_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let expect = fixtures(&["write", s(dir.path())]);

    let e = &expect["v04_blosc"];
    let path = dir.path().join("v04_blosc.ome.zarr");
    let v = load_level(&path, None);
    let dims: Vec<usize> = e["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(v.dims.to_vec(), dims);
    assert_eq!(v.data.dtype(), DType::Uint16);
    let spacing = common::numbers(&e["spacing_mm"]);
    for (got, want) in v.spacing.iter().zip(&spacing) {
        assert!((got - want).abs() < 1e-12, "{:?}", v.spacing);
    }
    let origin = common::numbers(&e["origin_mm"]);
    assert!((v.origin() - DVec3::from_slice(&origin)).length() < 1e-12);
    assert_eq!(
        v.space,
        Space::Lps,
        "OME-Zarr's x, y, z are taken along LPS"
    );
    assert_eq!(v.directions(), DMat3::IDENTITY);
    let sum: f64 = (0..v.voxel_count()).map(|i| v.data.get_f64(i)).sum();
    assert_eq!(sum, e["sum"].as_f64().unwrap());
    let first: Vec<f64> = (0..5).map(|i| v.data.get_f64(i)).collect();
    assert_eq!(first, common::numbers(&e["first"]), "x varies fastest");
    assert_eq!(
        v.data.get_f64(v.voxel_count() - 1),
        e["last"].as_f64().unwrap()
    );
    let l1 = load_level(&path, Some(1));
    let sum1: f64 = (0..l1.voxel_count()).map(|i| l1.data.get_f64(i)).sum();
    assert_eq!(sum1, e["level1_sum"].as_f64().unwrap());

    let e = &expect["tczyx"];
    let v = load_level(&dir.path().join("tczyx.ome.zarr"), None);
    assert_eq!(v.dims, [8, 6, 4]);
    assert_eq!(v.spacing, [1.0, 2.0, 3.0]);
    let sum: f64 = (0..v.voxel_count()).map(|i| v.data.get_f64(i)).sum();
    assert_eq!(
        sum,
        e["sum"].as_f64().unwrap(),
        "the first time point and channel"
    );
    let notes = v.notes.join("; ");
    assert!(notes.contains("axis t has 2 entries") && notes.contains("axis c has 2"));
}

#[test]
fn zarr_python_and_ome_zarr_py_read_what_convert_writes() {
    let lung = sample_data_dir().join("lung1_image.nrrd");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lung.ome.zarr");
    stdout_of(&gradvol(&["convert", s(&lung), "-o", s(&out)]));
    let read = fixtures(&["read", s(&out)]);
    assert_eq!(read["axes"], serde_json::json!(["z", "y", "x"]));
    assert_eq!(
        read["shapes"],
        serde_json::json!([[48, 512, 512], [24, 256, 256]])
    );
    assert_eq!(read["dtype"], "int16");
    let source = common::load(&lung);
    let sum: f64 = (0..source.voxel_count())
        .map(|i| source.data.get_f64(i))
        .sum();
    assert_eq!(read["sum"].as_f64().unwrap(), sum);
    let scale = common::numbers(&read["scales"][0]);
    assert_eq!(
        scale,
        vec![source.spacing[2], source.spacing[1], source.spacing[0]]
    );
}

#[test]
fn a_store_over_http_reads_as_the_folder_does() {
    let mut rng = Rng(5);
    let v = oblique(
        [90, 70, 40],
        random_voxels(DType::Uint16, 90 * 70 * 40, &mut rng),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.ome.zarr");
    let options = ConvertOptions {
        chunk: 16,
        shard: 2,
        codec: Codec::Zstd,
        gradient: None,
        min_levels: 1,
    };
    convert(&v, &out, options, &|_, _| {}).unwrap();
    let server = Server::start(dir.path(), Faults::default());
    let url = format!("{}/v.ome.zarr", server.url);
    let remote = load_level(Path::new(&url), None);
    assert!(remote.data == v.data);
    common::assert_mat4_close(remote.world_from_voxel, v.world_from_voxel, 1e-9);
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) > 2);

    // The command line takes the URL too.
    let info = stdout_of(&gradvol(&["info", &url, "--json"]));
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["format"], "ome-zarr");
    assert_eq!(info["dims"], serde_json::json!([90, 70, 40]));

    // Nothing there, and a server that fails every chunk: one line, the URL, no panic.
    let missing = gradvol(&["info", &format!("{}/nothere.ome.zarr", server.url)]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        err.contains("nothere.ome.zarr") && err.lines().count() == 1,
        "{err}"
    );
    let failing = Server::start(
        dir.path(),
        Faults {
            fail_matching: Some(""),
            ..Default::default()
        },
    );
    let bad = gradvol(&["info", &format!("{}/v.ome.zarr", failing.url)]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.lines().count() == 1 && err.contains("503") && !err.contains("panicked"),
        "{err}"
    );
}

/// Every number in a JSON value, depth first.
fn flat(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

/// Converts the real volume `name` and checks `info` and a render agree with the source's.
fn converted_real_volume_matches_its_source(name: &str) {
    let source = sample_data_dir().join(name);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("v.ome.zarr");
    stdout_of(&gradvol(&["convert", s(&source), "-o", s(&store)]));
    let info = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&stdout_of(&gradvol(&[
            "info",
            s(p),
            "--json",
            "--level",
            "0",
        ])))
        .unwrap()
    };
    let info_of = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&stdout_of(&gradvol(&["info", s(p), "--json"]))).unwrap()
    };
    let (a, b) = (info_of(&source), info(&store));
    for key in ["dims", "dtype", "range", "space", "voxels"] {
        assert_eq!(a[key], b[key], "{name}: {key}");
    }
    for key in ["spacing", "origin", "world_from_voxel"] {
        let (x, y) = (flat(&a[key]), flat(&b[key]));
        for (x, y) in x.iter().zip(&y) {
            assert!((x - y).abs() < 1e-9, "{name}: {key} {x} vs {y}");
        }
    }
    let render = |input: &Path, png: &Path, extra: &[&str]| {
        let mut args = vec!["render", s(input), "-o", s(png), "--size", "96x96"];
        args.extend_from_slice(&["--azimuth", "30"]);
        args.extend_from_slice(extra);
        stdout_of(&gradvol(&args));
    };
    let from_source = dir.path().join("a.png");
    render(&source, &from_source, &[]);
    let from_store = dir.path().join("b.png");
    render(&store, &from_store, &["--level", "0"]);
    let (x, y) = (
        gradvol::png_io::read_png(&from_source).unwrap(),
        gradvol::png_io::read_png(&from_store).unwrap(),
    );
    assert!(x.rgba == y.rgba, "{name}: the store renders differently");
}

#[test]
fn the_chest_ct_converted_renders_exactly_as_the_nrrd() {
    converted_real_volume_matches_its_source("lung1_image.nrrd");
}

#[test]
fn the_mri_converted_renders_exactly_as_the_nifti() {
    converted_real_volume_matches_its_source("ch2.nii.gz");
}

/// Runs `gradvol info` on a broken store: a failure on one line that names the store.
fn refused(store: &Path, extra: &[&str], expect: &str) {
    let mut args = vec!["info", s(store)];
    args.extend_from_slice(extra);
    let out = gradvol(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{expect}: {err}");
    assert_eq!(err.lines().count(), 1, "{expect}: one line: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(s(store)),
        "{err}"
    );
    assert!(err.contains(expect), "expected {expect:?} in {err}");
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn broken_stores_are_refused_with_one_line_naming_them() {
    let mut rng = Rng(9);
    let v = oblique(
        [300, 20, 20],
        random_voxels(DType::Int16, 300 * 400, &mut rng),
    );
    let dir = tempfile::tempdir().unwrap();
    let fresh = |name: &str| -> PathBuf {
        let out = dir.path().join(name);
        let options = ConvertOptions {
            chunk: 16,
            shard: 1,
            codec: Codec::Zstd,
            gradient: None,
            min_levels: 1,
        };
        convert(&v, &out, options, &|_, _| {}).unwrap();
        out
    };

    let plain = fresh("plain.zarr");
    edit_json(&plain.join("zarr.json"), |j| {
        j["attributes"] = serde_json::json!({});
    });
    refused(&plain, &[], "no OME-Zarr multiscales metadata");

    let shape = fresh("shape.zarr");
    edit_json(&shape.join("1/zarr.json"), |j| {
        j["shape"] = serde_json::json!([10, 10, 400]);
    });
    refused(&shape, &[], "does not cover the extent");

    let codec = fresh("codec.zarr");
    edit_json(&codec.join("0/zarr.json"), |j| {
        j["codecs"][1]["name"] = serde_json::json!("lzma9");
    });
    refused(&codec, &[], "cannot open level \"0\"");

    let absurd = fresh("absurd.zarr");
    edit_json(&absurd.join("0/zarr.json"), |j| {
        j["shape"] = serde_json::json!([1_000_000_000u64, 1_000_000_000u64, 1_000_000_000u64]);
    });
    refused(&absurd, &[], "beyond the limit");

    let truncated = fresh("truncated.zarr");
    let chunk = truncated.join("0/c/0/0/0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    refused(&truncated, &["--level", "0"], "corrupt");

    let oversized = fresh("oversized.zarr");
    let chunk = oversized.join("0/c/0/0/1");
    let mut bytes = std::fs::read(&chunk).unwrap();
    bytes.extend(std::iter::repeat_n(7u8, 100_000));
    std::fs::write(&chunk, &bytes).unwrap();
    refused(&oversized, &["--level", "0"], "corrupt");

    let ok = fresh("ok.zarr");
    refused(&ok, &["--level", "2"], "levels 0 to 1");
    let nrrd = sample_data_dir().join("lung1_image.nrrd");
    let out = gradvol(&["info", s(&nrrd), "--level", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--level applies to OME-Zarr"));
}

/// Every file under `dir` (relative path, bytes), sorted.
fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((
                    p.strip_prefix(root).unwrap().into(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn convert_streams_files_slab_by_slab_into_the_store_the_whole_volume_makes() {
    use common::{NiftiSpec, bytes_in, write_attached, zlib};
    use gradvol::volume::Opened;
    use gradvol::volume::zarr::convert_source;
    // 45 planes in rows of 8 (the last of 5) at level 0, 23 at level 1; a Gaussian that reaches
    // 16 planes, two rows, beyond each plane.
    let dims = [23, 17, 45];
    let n: usize = dims.iter().product();
    let mut rng = Rng(29);
    let dir = tempfile::tempdir().unwrap();
    let smooth = |rng: &mut Rng| -> Vec<i16> {
        // Structure a gradient can see, plus noise.
        (0..n)
            .map(|i| {
                let [x, y, z] = [i % 23, i / 23 % 17, i / (23 * 17)];
                let ball = (x as f64 - 11.0).powi(2) + (y as f64 - 8.0).powi(2);
                let inside = ball + (z as f64 - 22.0).powi(2) < 100.0;
                (if inside { 900 } else { -200 }) + (rng.next_u64() % 64) as i16
            })
            .collect()
    };

    // A NIfTI whose scl_slope and scl_inter make its int16 voxels float, 0.5 mm apart in z.
    let nii = dir.path().join("v.nii");
    let mut spec = NiftiSpec::new(dims, DType::Int16);
    spec.pixdim = [1.0, 0.8, 0.9, 0.5, 1.0, 1.0, 1.0, 1.0];
    spec.scl_slope = 2.0;
    spec.scl_inter = -1024.0;
    let values = VoxelData::Int16(smooth(&mut rng));
    std::fs::write(&nii, spec.file(&bytes_in(&values, Endian::Little))).unwrap();
    // A MetaImage of two big-endian u16 channels, zlib-compressed.
    let mha = dir.path().join("v.mha");
    let two: Vec<u16> = (0..2 * n).map(|_| rng.next_u64() as u16).collect();
    let header = format!(
        "ObjectType = Image\nNDims = 3\nDimSize = {} {} {}\nElementSpacing = 1.5 1 2\n\
         ElementNumberOfChannels = 2\nElementType = MET_USHORT\nBinaryDataByteOrderMSB = True\n\
         CompressedData = True\nElementDataFile = LOCAL",
        dims[0], dims[1], dims[2]
    );
    write_attached(
        &mha,
        &header,
        &zlib(&bytes_in(&VoxelData::Uint16(two), Endian::Big)),
    );
    // A gzip NRRD of floats with a NaN.
    let nrrd = dir.path().join("v.nrrd");
    let mut floats = random_voxels(DType::Float, n, &mut rng);
    if let VoxelData::Float(v) = &mut floats {
        v[777] = f32::NAN;
    }
    let header = format!(
        "NRRD0004\ntype: float\ndimension: 3\nsizes: {} {} {}\nspacings: 1 1 1.25\n\
         encoding: gzip\nendian: little\n",
        dims[0], dims[1], dims[2]
    );
    write_attached(
        &nrrd,
        &header,
        &common::gzip(&bytes_in(&floats, Endian::Little)),
    );

    let cases = [
        (&nii, Operator::Gaussian { sigma_mm: 2.0 }, 1),
        (&nii, Operator::Central, 2),
        (&mha, Operator::Sobel, 1),
        (&nrrd, Operator::Central, 1),
    ];
    for (k, (path, operator, shard)) in cases.into_iter().enumerate() {
        let what = format!("{} {operator:?} shard {shard}", path.display());
        let whole = load_level(path, None);
        let Opened::Source(source) = volume::open(path, &LoadOptions::default()).unwrap() else {
            panic!("{what}: a file that reads a slab at a time")
        };
        let options = ConvertOptions {
            chunk: 8,
            shard,
            codec: Codec::Zstd,
            gradient: Some(operator),
            min_levels: 3,
        };
        let streamed = dir.path().join(format!("streamed{k}.ome.zarr"));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let progress = |done: u64, total: u64| {
            assert!(done <= total);
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        convert_source(&source, &streamed, options, &progress).unwrap();
        assert!(
            calls.into_inner() > 6,
            "{what}: progress is reported per row"
        );
        let in_memory = dir.path().join(format!("whole{k}.ome.zarr"));
        convert(&whole, &in_memory, options, &|_, _| {}).unwrap();
        // The same metadata, and the same voxels in every array (a shard written a row at a
        // time may order its chunks otherwise).
        let metadata = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            let mut files = files_of(dir);
            files.retain(|(p, _)| p.ends_with("zarr.json"));
            files
        };
        let (a, b) = (metadata(&streamed), metadata(&in_memory));
        assert_eq!(
            a.len(),
            1 + 2 * 3,
            "{what}: the group and two pyramids of three levels"
        );
        assert!(a == b, "{what}: the metadata differs");
        let (pa, pb) = (
            Pyramid::open(&Location::Folder(streamed.clone())).unwrap(),
            Pyramid::open(&Location::Folder(in_memory.clone())).unwrap(),
        );
        for l in 0..3 {
            let all = pa.level(l).dims.map(|n| 0..n as u64);
            let (x, y) = (
                pa.read_region(l, all.clone()).unwrap(),
                pb.read_region(l, all.clone()).unwrap(),
            );
            assert!(x.as_bytes() == y.as_bytes(), "{what}: level {l}");
            let (x, y) = (
                pa.read_gradient_region(l, all.clone()).unwrap(),
                pb.read_gradient_region(l, all).unwrap(),
            );
            assert!(
                bytemuck::cast_slice::<f32, u8>(&x) == bytemuck::cast_slice::<f32, u8>(&y),
                "{what}: |grad f| level {l}"
            );
        }

        // Against oracles on the whole volume: level 0, its 2x2x2 mean, |grad f| bit for bit
        // and its max-pooling, the value range from the blocks' ranges.
        let back = load_level(&streamed, Some(0));
        assert_eq!(back.data.dtype(), whole.data.dtype(), "{what}");
        assert!(back.data.as_bytes() == whole.data.as_bytes(), "{what}");
        common::assert_mat4_close(back.world_from_voxel, whole.world_from_voxel, 1e-9);
        let (mean, d1) = halved(&whole);
        let level1 = load_level(&streamed, Some(1));
        assert_eq!(level1.dims, d1, "{what}");
        for (i, m) in mean.iter().enumerate() {
            let want = if whole.data.dtype() == DType::Float {
                *m
            } else {
                m.round()
            };
            let got = level1.data.get_f64(i);
            let same = (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-3 * want.abs();
            assert!(same, "{what}: level 1 voxel {i} is {got}, the mean {want}");
        }
        let pyramid = Pyramid::open(&Location::Folder(streamed.clone())).unwrap();
        assert_eq!(pyramid.level_count(), 3, "{what}");
        assert_eq!(pyramid.known_range(), Some(whole.range), "{what}");
        let g = cpu::gradient_magnitude(&whole, operator);
        let all = |d: [usize; 3]| d.map(|n| 0..n as u64);
        let g0 = pyramid.read_gradient_region(0, all(dims)).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&g0) == bits(&g), "{what}: stored level 0 |grad f|");
        let g1 = pyramid.read_gradient_region(1, all(d1)).unwrap();
        for (i, &got) in g1.iter().enumerate() {
            let [x, y, z] = [i % d1[0], i / d1[0] % d1[1], i / (d1[0] * d1[1])];
            let mut want = f32::MIN;
            for c in 2 * z..(2 * z + 2).min(dims[2]) {
                for b in 2 * y..(2 * y + 2).min(dims[1]) {
                    for a in 2 * x..(2 * x + 2).min(dims[0]) {
                        want = want.max(g[a + dims[0] * (b + dims[1] * c)]);
                    }
                }
            }
            assert_eq!(got, want, "{what}: level 1 |grad f| at {i}");
        }
    }

    // A store converted again (re-chunked, another operator) is read a row of chunks at a
    // time: level 0 and its frame unchanged, |grad f| the whole volume's.
    let first = dir.path().join("streamed0.ome.zarr");
    let again = dir.path().join("again.ome.zarr");
    let args = ["--chunk", "16", "--shard", "1", "--gradient", "sobel"];
    stdout_of(&gradvol(
        &[&["convert", s(&first), "-o", s(&again)][..], &args[..]].concat(),
    ));
    let whole = load_level(&nii, None);
    let back = load_level(&again, Some(0));
    assert!(back.data.as_bytes() == whole.data.as_bytes());
    assert_eq!(back.space, whole.space);
    common::assert_mat4_close(back.world_from_voxel, whole.world_from_voxel, 1e-9);
    let pyramid = Pyramid::open(&Location::Folder(again)).unwrap();
    assert_eq!(pyramid.level(0).chunk, [16; 3]);
    let g = pyramid
        .read_gradient_region(0, dims.map(|n| 0..n as u64))
        .unwrap();
    assert!(g == cpu::gradient_magnitude(&whole, Operator::Sobel));

    // A file cut short fails with the path and leaves no store.
    let short = dir.path().join("short.nrrd");
    let header = format!(
        "NRRD0004\ntype: short\ndimension: 3\nsizes: {} {} {}\nencoding: raw\nendian: little\n",
        dims[0], dims[1], dims[2]
    );
    write_attached(&short, &header, &vec![0u8; n]);
    let out = dir.path().join("short.ome.zarr");
    let text = String::from_utf8_lossy(&gradvol(&["convert", s(&short), "-o", s(&out)]).stderr)
        .into_owned();
    assert!(text.contains("short.nrrd"), "{text}");
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("short.ome.zarr"))
        .collect();
    assert!(left.is_empty(), "a temporary folder was left: {left:?}");
}
