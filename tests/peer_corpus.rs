//! The peers' own test files, fetched by scripts/fetch-sample-data.sh: pydicom's DICOM files
//! (data/pydicom/, truth in tests/data/dicom_corpus_truth.json from scripts/dicom-truth.py) and
//! nibabel's NIfTI files (data/nibabel/, truth in tests/data/nibabel_corpus_truth.json from
//! scripts/nifti-truth.py), read by gradvol and compared with what the peer reads in them.
//!
//! Every file ends in one of three columns: agree (gradvol's volume matches the peer's: dims,
//! spacing, origin, value range and mean), refused with a reason (a one-line error that names
//! what is missing or unsupported), or disagree. A disagreement fails the test, and so does a
//! refusal of a file that the peer reads, unless it is listed in `MAY_REFUSE` with its reason.
//! No valid file may be called corrupt.

mod common;

use std::collections::BTreeMap;

use gradvol::volume::{LoadOptions, Space, load};
use serde_json::Value;

/// Files the peer reads and gradvol refuses, and the words its refusal must contain.
const MAY_REFUSE: &[(&str, &str)] = &[
    // jpeg-decoder reads 8-bit JPEG only; pydicom's libjpeg plugin reads 12-bit too.
    ("JPGExtended.dcm", "cannot decode the JPEG Extended"),
    // JPEG-LS needs CharLS, a C++ library; refused by name.
    ("JPEGLSNearLossless_08.dcm", "unsupported: JPEG-LS"),
    ("JPEGLSNearLossless_16.dcm", "unsupported: JPEG-LS"),
    ("MR_small_jpeg_ls_lossless.dcm", "unsupported: JPEG-LS"),
];

/// What a refusal says for each kind of file the peer gives no volume for.
fn expected_refusal(peer: &str) -> &'static [&'static str] {
    match peer {
        // pydicom reads lazily and never looks at a truncated element it does not need.
        "no image" => &["holds no image", "claims"],
        "colour" => &["unsupported: colour"],
        "1-bit" => &["unsupported: 1-bit"],
        // The peer could not decode it either: gradvol names why, in its own words.
        "cannot decode" => &[
            "cannot decode",
            "claims",
            "truncated",
            "is not a number",
            "declares",
        ],
        "unreadable" => &[
            "holds no image",
            "not a readable DICOM file",
            "needs its .img file",
            "unrecognised file format",
        ],
        "not a volume" => &["unsupported: a CIFTI-2 file"],
        _ => &[],
    }
}

#[derive(Default)]
struct Tally {
    agree: usize,
    refused: usize,
    disagree: Vec<String>,
}

/// Reads every file of a truth file's folder and sorts it into agree / refused / disagree.
fn sweep(truth: &str, folder: &str, may_refuse: &[(&str, &str)]) -> Tally {
    let truth: BTreeMap<String, Value> = serde_json::from_str(truth).unwrap();
    let dir = common::sample_data_dir().join(folder);
    let mut tally = Tally::default();
    let mut refusals = Vec::new();
    for (name, t) in truth.iter().filter(|(k, _)| !k.starts_with('_')) {
        let path = dir.join(name);
        assert!(
            path.is_file(),
            "{} is missing: run scripts/fetch-sample-data.sh",
            path.display()
        );
        let peer = t["peer"].as_str().unwrap();
        match (load(&path, &LoadOptions::default()), peer) {
            (Ok(v), "volume") => match compare(&v, t) {
                Ok(()) => tally.agree += 1,
                Err(why) => tally.disagree.push(format!("{name}: {why}")),
            },
            (Ok(v), _) => tally.disagree.push(format!(
                "{name}: gradvol read {:?} where the peer gives no volume ({peer})",
                v.dims
            )),
            (Err(e), _) => {
                let message = e.to_string();
                assert!(
                    !message.contains('\n'),
                    "{name}: the error is not one line: {message}"
                );
                let allowed = may_refuse
                    .iter()
                    .find(|(f, _)| f == name)
                    .map(|(_, words)| vec![*words])
                    .unwrap_or_else(|| expected_refusal(peer).to_vec());
                if peer != "cannot decode" && peer != "unreadable" {
                    assert!(
                        !message.contains("corrupt"),
                        "{name}: a valid file called corrupt: {message}"
                    );
                }
                if allowed.iter().any(|w| message.contains(w)) {
                    tally.refused += 1;
                    refusals.push(format!("{name}: {message}"));
                } else {
                    tally.disagree.push(format!(
                        "{name}: refused ({message}) where the peer says {peer}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "{folder} corpus: {} agree, {} refused with a reason, {} disagree",
        tally.agree,
        tally.refused,
        tally.disagree.len()
    );
    for r in &refusals {
        eprintln!("  refused: {r}");
    }
    assert!(
        tally.disagree.is_empty(),
        "disagreements:\n{}",
        tally.disagree.join("\n")
    );
    tally
}

#[test]
fn pydicom_test_files_read_as_pydicom_reads_them() {
    let tally = sweep(
        include_str!("data/dicom_corpus_truth.json"),
        "pydicom",
        MAY_REFUSE,
    );
    // The corpus must keep exercising the readers: a fetch that lost files would pass empty.
    assert!(tally.agree >= 20, "only {} files agree", tally.agree);
}

#[test]
fn nibabel_test_files_read_as_nibabel_reads_them() {
    let tally = sweep(
        include_str!("data/nibabel_corpus_truth.json"),
        "nibabel",
        &[],
    );
    assert!(tally.agree >= 7, "only {} files agree", tally.agree);
}

fn compare(v: &gradvol::volume::Volume, t: &Value) -> Result<(), String> {
    let nums = |k: &str| -> Vec<f64> {
        t[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let dims: Vec<usize> = nums("dims").iter().map(|&d| d as usize).collect();
    if v.dims.to_vec() != dims {
        return Err(format!("dims {:?}, peer {dims:?}", v.dims));
    }
    for (a, b) in v.spacing.iter().zip(nums("spacing")) {
        if (a - b).abs() > 1e-4 * b.abs().max(1.0) {
            return Err(format!(
                "spacing {:?}, peer {:?}",
                v.spacing,
                nums("spacing")
            ));
        }
    }
    let origin = v.world_from_voxel_in(Space::Lps).w_axis.truncate();
    for (a, b) in origin.to_array().iter().zip(nums("origin_lps")) {
        if (a - b).abs() > 1e-3 {
            return Err(format!("origin {origin}, peer {:?}", nums("origin_lps")));
        }
    }
    // Values go through f32 in gradvol: compare to its precision.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0) + 1e-9;
    let (lo, hi) = (t["min"].as_f64().unwrap(), t["max"].as_f64().unwrap());
    if !close(v.range[0], lo) || !close(v.range[1], hi) {
        return Err(format!("range {:?}, peer [{lo}, {hi}]", v.range));
    }
    // Over the finite values, as the truth's.
    let finite: Vec<f64> = (0..v.voxel_count())
        .map(|i| v.data.get_f64(i))
        .filter(|x| x.is_finite())
        .collect();
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    let peer_mean = t["mean"].as_f64().unwrap();
    if (mean - peer_mean).abs() > 1e-5 * peer_mean.abs().max(1.0) {
        return Err(format!("mean {mean}, peer {peer_mean}"));
    }
    Ok(())
}
