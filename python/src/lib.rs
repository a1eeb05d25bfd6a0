//! The native half of the `gradvol` Python package (`gradvol._gradvol`).
//!
//! Thin on purpose: it turns numpy arrays into the core's slices and back, releases the GIL for
//! every computation, and turns every error (and any panic) into a Python exception with the
//! command line's message. The public API, its defaults and its docstrings live in the Python
//! layer (`py_src/gradvol`), which calls these functions with checked, normalised arguments:
//! arrays of one of eight native-endian dtypes, spacing in the array's axis order.
//!
//! Memory order: a C-ordered `(nz, ny, nx)` array and an F-ordered `(nx, ny, nz)` array both
//! hold x fastest, which is the core's layout, so either is read in place; only other strides
//! are copied. Results come back as numpy arrays that own the Rust allocation (no copy), in the
//! input's memory order.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use glam::DMat4;
use gradvol::gpu::gradient_pass::GradientPass;
use gradvol::gpu::volume_texture::VolumeTexture;
use gradvol::gpu::{Gpu, GpuError};
use gradvol::gradient::boundary::boundary_emphasis;
use gradvol::gradient::stats::GradientStats;
use gradvol::gradient::{Operator, cpu};
use gradvol::render::params::Geometry;
use gradvol::render::renderer::{Renderer, RendererOptions, fit_to_device};
use gradvol::scene::Scene;
use gradvol::tf::{TransferFunction, presets};
use gradvol::volume::{self, Decoded, Format, LoadOptions, Scalar, Space, Volume, VoxelData};
use numpy::ndarray::{Array3, ArrayView3, ShapeBuilder};
use numpy::{Element, IntoPyArray, PyArray3, PyReadonlyArray3};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// A 3-D array of one of the dtypes the core reads, borrowed read-only from numpy.
#[derive(FromPyObject)]
enum Image<'py> {
    I8(PyReadonlyArray3<'py, i8>),
    U8(PyReadonlyArray3<'py, u8>),
    I16(PyReadonlyArray3<'py, i16>),
    U16(PyReadonlyArray3<'py, u16>),
    I32(PyReadonlyArray3<'py, i32>),
    U32(PyReadonlyArray3<'py, u32>),
    F32(PyReadonlyArray3<'py, f32>),
    F64(PyReadonlyArray3<'py, f64>),
}

/// Runs `$body` with `$a` bound to the typed numpy array inside an [`Image`].
macro_rules! with_image {
    ($image:expr, $a:ident => $body:expr) => {
        match $image {
            Image::I8($a) => $body,
            Image::U8($a) => $body,
            Image::I16($a) => $body,
            Image::U16($a) => $body,
            Image::I32($a) => $body,
            Image::U32($a) => $body,
            Image::F32($a) => $body,
            Image::F64($a) => $body,
        }
    };
}

/// A voxel type the core reads and numpy holds.
trait Voxel: Scalar + Element {
    fn into_data(values: Vec<Self>) -> VoxelData;
}

macro_rules! voxel {
    ($($t:ty => $variant:ident),*) => {$(
        impl Voxel for $t {
            fn into_data(values: Vec<Self>) -> VoxelData {
                VoxelData::$variant(values)
            }
        }
    )*};
}
voxel!(i8 => Int8, u8 => Uint8, i16 => Int16, u16 => Uint16, i32 => Int32, u32 => Uint32,
    f32 => Float, f64 => Double);

/// An array seen as the core sees volumes: voxels x fastest, `dims` and `spacing` in x, y, z.
struct Grid<'a, T: Clone> {
    values: Cow<'a, [T]>,
    dims: [usize; 3],
    spacing: [f64; 3],
    /// The numpy shape, and whether the array was F-ordered (its first axis is x).
    shape: [usize; 3],
    fortran: bool,
}

impl<'a, T: Voxel> Grid<'a, T> {
    /// Reads `view` in place when it is C- or F-contiguous, else copies it into C order.
    /// `spacing` is in the array's axis order.
    fn new(view: ArrayView3<'a, T>, spacing: [f64; 3]) -> Grid<'a, T> {
        let shape: [usize; 3] = [view.shape()[0], view.shape()[1], view.shape()[2]];
        let reversed = |a: [usize; 3]| [a[2], a[1], a[0]];
        let spacing_c = [spacing[2], spacing[1], spacing[0]];
        if view.is_standard_layout() {
            let values = Cow::Borrowed(view.to_slice().expect("standard layout"));
            return Grid::with(values, reversed(shape), spacing_c, shape, false);
        }
        let transposed = view.reversed_axes();
        if transposed.is_standard_layout() {
            let values = Cow::Borrowed(transposed.to_slice().expect("standard layout"));
            return Grid::with(values, shape, spacing, shape, true);
        }
        let owned: Vec<T> = transposed.reversed_axes().iter().copied().collect();
        Grid::with(Cow::Owned(owned), reversed(shape), spacing_c, shape, false)
    }

    fn with(
        values: Cow<'a, [T]>,
        dims: [usize; 3],
        spacing: [f64; 3],
        shape: [usize; 3],
        fortran: bool,
    ) -> Self {
        Grid {
            values,
            dims,
            spacing,
            shape,
            fortran,
        }
    }

    /// An owned core volume of the same voxels (a copy), on an axis-aligned grid at the origin
    /// unless `world_from_voxel` says where it lies.
    fn to_volume(&self, world_from_voxel: Option<(DMat4, Space)>) -> Result<Volume, Failure> {
        let data = T::into_data(self.values.to_vec());
        let (world, space) = world_from_voxel.unwrap_or((
            DMat4::from_diagonal(glam::DVec4::new(
                self.spacing[0],
                self.spacing[1],
                self.spacing[2],
                1.0,
            )),
            Space::Lps,
        ));
        let linear = glam::DMat3::from_mat4(world);
        let origin = world.w_axis.truncate();
        Volume::from_geometry(
            self.dims,
            self.spacing,
            linear,
            origin,
            space,
            Decoded::scan(data),
            Format::Raw,
        )
        .map_err(|e| Failure::Input(e.to_string()))
    }

    /// `values` (one per voxel, x fastest) as an array shaped and ordered like the input.
    fn shaped<U>(&self, values: Vec<U>) -> Array3<U> {
        let [a, b, c] = self.shape;
        Array3::from_shape_vec((a, b, c).set_f(self.fortran), values).expect("one value per voxel")
    }
}

/// The process that imported the module. rayon's global thread pool lives there: a child made
/// by `fork()` inherits the pool's state but not its threads, and would wait for them forever.
static MODULE_PID: OnceLock<u32> = OnceLock::new();

/// A thread pool of this process's own, for a forked child (see [`MODULE_PID`]).
static CHILD_POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Runs `work` on rayon's global pool, or in a forked child on a pool of its own.
fn in_own_pool<R: Send>(work: impl FnOnce() -> R + Send) -> Result<R, Failure> {
    let pid = std::process::id();
    if MODULE_PID.get().is_none_or(|p| *p == pid) {
        return Ok(work());
    }
    let pool = {
        let mut slot = CHILD_POOL.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some((owner, pool)) if *owner == pid => pool.clone(),
            _ => {
                let pool = rayon::ThreadPoolBuilder::new()
                    .build()
                    .map_err(|e| Failure::Machine(format!("cannot start worker threads: {e}")))?;
                let pool = Arc::new(pool);
                *slot = Some((pid, pool.clone()));
                pool
            }
        }
    };
    Ok(pool.install(work))
}

/// Runs `work` (on this process's thread pool), turning a panic into an error message rather
/// than a `PanicException` (which `except Exception` does not catch).
fn guarded<R: Send>(work: impl FnOnce() -> Result<R, Failure> + Send) -> Result<R, Failure> {
    match catch_unwind(AssertUnwindSafe(|| in_own_pool(work))) {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(Failure::Machine(format!(
                "internal error in gradvol (please report it): {what}"
            )))
        }
    }
}

/// Why a call failed; it decides the Python exception.
#[derive(Debug)]
enum Failure {
    /// The caller's arguments or data: `ValueError`.
    Input(String),
    /// A file that cannot be read or written: `OSError`.
    File(String),
    /// The GPU, or gradvol itself: `RuntimeError`.
    Machine(String),
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Input(m) => PyValueError::new_err(m),
            Failure::File(m) => PyOSError::new_err(m),
            Failure::Machine(m) => PyRuntimeError::new_err(m),
        }
    }
}

fn value_error(message: String) -> PyErr {
    PyValueError::new_err(message)
}

fn runtime_error(message: String) -> PyErr {
    PyRuntimeError::new_err(message)
}

fn check_spacing(spacing: Vec<f64>) -> PyResult<[f64; 3]> {
    match <[f64; 3]>::try_from(spacing) {
        Ok(s) if s.iter().all(|v| v.is_finite() && *v > 0.0) => Ok(s),
        Ok(s) => Err(value_error(format!(
            "spacing must be positive and finite (mm per voxel along each array axis), got {s:?}"
        ))),
        Err(s) => Err(value_error(format!(
            "spacing needs 3 values, one per array axis, got {}",
            s.len()
        ))),
    }
}

fn operator(name: &str, sigma_mm: Option<f64>) -> PyResult<Operator> {
    match (name, sigma_mm) {
        ("central", None) => Ok(Operator::Central),
        ("sobel", None) => Ok(Operator::Sobel),
        ("gaussian", Some(s)) if s.is_finite() && s > 0.0 => Ok(Operator::Gaussian { sigma_mm: s }),
        ("gaussian", _) => Err(value_error(
            "operator 'gaussian' needs sigma_mm, a positive width in mm".into(),
        )),
        ("central" | "sobel", Some(_)) => Err(value_error(format!(
            "sigma_mm applies to operator 'gaussian' only, not '{name}'"
        ))),
        _ => Err(value_error(format!(
            "unknown operator '{name}': use 'central', 'sobel' or 'gaussian'"
        ))),
    }
}

/// The process's one GPU device, opened on first use. wgpu's device creation is not safe to
/// race, and submissions from several threads are serialised by the caller holding
/// [`GPU_WORK`]. The device is never dropped: tearing it down during interpreter exit is what
/// hangs some Vulkan drivers.
static GPU: Mutex<Option<(u32, Arc<Gpu>)>> = Mutex::new(None);
static GPU_WORK: Mutex<()> = Mutex::new(());

/// The shared device, or why there is none. After `fork()` a child gets an error instead of a
/// device inherited in a broken state.
fn shared_gpu() -> Result<Arc<Gpu>, Failure> {
    let mut slot = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    match &*slot {
        Some((owner, gpu)) if *owner == pid => Ok(gpu.clone()),
        Some(_) => Err(Failure::Machine(
            "gradvol opened the GPU before this process was forked, and a forked \
             child cannot use it: start workers with multiprocessing's 'spawn' method, or use \
             device='cpu' in the child"
                .into(),
        )),
        None => {
            let gpu = Arc::new(Gpu::new().map_err(|e| Failure::Machine(e.to_string()))?);
            *slot = Some((pid, gpu.clone()));
            Ok(gpu)
        }
    }
}

/// Whether a GPU was opened in this process and then inherited through `fork()`.
fn forked() -> bool {
    let slot = GPU.lock().unwrap_or_else(|e| e.into_inner());
    slot.as_ref()
        .is_some_and(|(owner, _)| *owner != std::process::id())
}

/// |grad f| on the GPU's compute pass, from a float copy of the volume.
fn gradient_on_gpu(gpu: &Gpu, volume: &Volume, op: Operator) -> Result<Vec<f32>, GpuError> {
    let _turn = GPU_WORK.lock().unwrap_or_else(|e| e.into_inner());
    let pass = GradientPass::new(gpu);
    let scalar = VolumeTexture::upload(gpu, volume)?;
    pass.compute_texture(gpu, &scalar, volume.spacing, op)?
        .read(gpu)
}

/// |grad f| of `grid`, and where it was computed: `device` is "cpu", "gpu" or "auto" (the GPU
/// when it is real hardware that runs the operator, else the CPU, as `gradvol gradient` does).
fn gradient_of<T: Voxel>(
    grid: &Grid<T>,
    op: Operator,
    device: &str,
) -> Result<(Vec<f32>, String), Failure> {
    if let Operator::Gaussian { sigma_mm } = op {
        cpu::check_gaussian(grid.dims, grid.spacing, sigma_mm).map_err(Failure::Input)?;
    }
    let on_cpu = |why: String| {
        let values = cpu::gradient_of(&grid.values, grid.dims, grid.spacing, op);
        // The pool that ran it: rayon's global one, or a forked child's own.
        let threads = rayon::current_num_threads();
        Ok((values, format!("cpu ({threads} threads){why}")))
    };
    let gpu = match device {
        "cpu" => return on_cpu(String::new()),
        "gpu" => shared_gpu()?,
        "auto" if forked() => return on_cpu("; the GPU belongs to the parent process".into()),
        "auto" => match shared_gpu() {
            Ok(gpu) => gpu,
            Err(Failure::Machine(e) | Failure::Input(e) | Failure::File(e)) => {
                return on_cpu(format!("; no GPU: {e}"));
            }
        },
        other => {
            return Err(Failure::Input(format!(
                "unknown device '{other}': use 'cpu', 'gpu' or 'auto'"
            )));
        }
    };
    let name = gpu.describe();
    if !GradientPass::supports(&gpu, op) {
        if device == "gpu" {
            return Err(Failure::Machine(format!(
                "the {} operator needs 3-D storage textures, which {name} lacks; use device='cpu'",
                op.name()
            )));
        }
        return on_cpu(format!("; {name} lacks 3-D storage textures"));
    }
    if device == "auto" && gpu.is_software() {
        return on_cpu(format!("; the adapter {name} is a software rasteriser"));
    }
    let volume = grid.to_volume(None)?;
    match gradient_on_gpu(&gpu, &volume, op) {
        Ok(values) => Ok((values, format!("gpu: {name}"))),
        Err(e) if device == "auto" => on_cpu(format!("; {e}")),
        Err(e) => Err(Failure::Machine(e.to_string())),
    }
}

/// Gradient magnitude in data units per mm, float32, shaped and ordered like `image`; the
/// device it ran on. `spacing` is in the array's axis order.
#[pyfunction]
#[pyo3(signature = (image, spacing, operator_name, sigma_mm, device))]
fn gradient_magnitude<'py>(
    py: Python<'py>,
    image: Image<'py>,
    spacing: Vec<f64>,
    operator_name: &str,
    sigma_mm: Option<f64>,
    device: &str,
) -> PyResult<(Bound<'py, PyArray3<f32>>, String)> {
    let spacing = check_spacing(spacing)?;
    let op = operator(operator_name, sigma_mm)?;
    with_image!(image, a => {
        let view = a.as_array();
        let (out, device) = py
            .detach(|| {
                guarded(|| {
                    let grid = Grid::new(view, spacing);
                    let (values, device) = gradient_of(&grid, op, device)?;
                    Ok((grid.shaped(values), device))
                })
            })
            .map_err(PyErr::from)?;
        Ok((out.into_pyarray(py), device))
    })
}

/// The statistics of `gradvol gradient --stats` as JSON text: |grad f| percentiles, histograms,
/// the joint histogram, the suggested gradient opacity (data units per mm) and the boundary
/// emphasis, with the operator and device.
#[pyfunction]
#[pyo3(signature = (image, spacing, operator_name, sigma_mm, device))]
fn gradient_stats(
    py: Python<'_>,
    image: Image<'_>,
    spacing: Vec<f64>,
    operator_name: &str,
    sigma_mm: Option<f64>,
    device: &str,
) -> PyResult<String> {
    let spacing = check_spacing(spacing)?;
    let op = operator(operator_name, sigma_mm)?;
    with_image!(image, a => {
        let view = a.as_array();
        py.detach(|| {
            guarded(|| {
                let grid = Grid::new(view, spacing);
                let (gradient, device) = gradient_of(&grid, op, device)?;
                let volume = grid.to_volume(None)?;
                let mut stats = GradientStats::compute(&volume, &gradient);
                stats.boundary_emphasis = boundary_emphasis(&volume, &gradient);
                let json = serde_json::json!({
                    "operator": op,
                    "device": device,
                    "units": "data units per mm",
                    "mean_spacing_mm": Geometry::of(&volume).mean_spacing(),
                    "value_range": volume.range,
                    "stats": stats,
                });
                Ok(json.to_string())
            })
        })
        .map_err(PyErr::from)
    })
}

/// Reads a volume file (or DICOM folder, or OME-Zarr store) with gradvol's readers. Returns the
/// voxels as a C-ordered (z, y, x) array in the file's own type, the spacing and the affine in
/// that array's axis order (mm; the affine 4x4 row-major, array index to world), the space,
/// the format and the loader's notes.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn load(
    py: Python<'_>,
    path: PathBuf,
) -> PyResult<(
    Py<PyAny>,
    [f64; 3],
    [[f64; 4]; 4],
    &'static str,
    &'static str,
    Vec<String>,
)> {
    let volume = py
        .detach(|| {
            guarded(|| {
                volume::load(&path, &LoadOptions::default())
                    .map_err(|e| Failure::File(e.to_string()))
            })
        })
        .map_err(PyErr::from)?;
    let [nx, ny, nz] = volume.dims;
    let shape = (nz, ny, nx);
    macro_rules! array {
        ($v:expr) => {
            Array3::from_shape_vec(shape, $v)
                .expect("one value per voxel")
                .into_pyarray(py)
                .into_any()
                .unbind()
        };
    }
    let data = match volume.data {
        VoxelData::Int8(v) => array!(v),
        VoxelData::Uint8(v) => array!(v),
        VoxelData::Int16(v) => array!(v),
        VoxelData::Uint16(v) => array!(v),
        VoxelData::Int32(v) => array!(v),
        VoxelData::Uint32(v) => array!(v),
        VoxelData::Float(v) => array!(v),
        VoxelData::Double(v) => array!(v),
    };
    // The array is (z, y, x): its affine's columns and its spacing go in that order too.
    let m = volume.world_from_voxel;
    let rows = DMat4::from_cols(m.z_axis, m.y_axis, m.x_axis, m.w_axis)
        .transpose()
        .to_cols_array_2d();
    let [sx, sy, sz] = volume.spacing;
    Ok((
        data,
        [sz, sy, sx],
        rows,
        volume.space.name(),
        volume.format.name(),
        volume.notes,
    ))
}

fn space_named(space: &str) -> PyResult<Space> {
    match space {
        "LPS" => Ok(Space::Lps),
        "RAS" => Ok(Space::Ras),
        other => Err(value_error(format!(
            "space must be 'LPS' or 'RAS', got '{other}'"
        ))),
    }
}

fn world_matrix(rows: [[f64; 4]; 4]) -> PyResult<DMat4> {
    let m = DMat4::from_cols_array_2d(&rows).transpose();
    if !m.is_finite() || m.row(3) != glam::DVec4::W {
        return Err(value_error(
            "the affine must be a finite 4x4 matrix whose last row is (0, 0, 0, 1)".into(),
        ));
    }
    Ok(m)
}

/// Writes `image` in its own dtype to NRRD or NIfTI (chosen by the file name), atomically.
/// `affine` (4x4, row-major) maps the array's indices, in its own axis order, to mm in `space`.
#[pyfunction]
fn save(
    py: Python<'_>,
    path: PathBuf,
    image: Image<'_>,
    affine: [[f64; 4]; 4],
    space: &str,
    description: &str,
) -> PyResult<()> {
    let world = world_matrix(affine)?;
    let space = space_named(space)?;
    with_image!(image, a => {
        let view = a.as_array();
        py.detach(|| {
            guarded(|| {
                let volume = located(view, world, space)?;
                volume::write_volume(&path, &volume.data, &volume, description)
                    .map_err(|e| Failure::File(error_chain(&e)))
            })
        })
        .map_err(PyErr::from)
    })
}

/// A core volume (a copy of `view`) placed by `world`, the array-order affine: its columns are
/// reordered to x, y, z, the axes in the order the voxels run in memory.
fn located<T: Voxel>(view: ArrayView3<T>, world: DMat4, space: Space) -> Result<Volume, Failure> {
    let spacing = [world.x_axis, world.y_axis, world.z_axis].map(|c| c.truncate().length());
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Failure::Input(
            "the affine has an axis of zero length".into(),
        ));
    }
    let grid = Grid::new(view, spacing);
    let xyz = if grid.fortran {
        world
    } else {
        DMat4::from_cols(world.z_axis, world.y_axis, world.x_axis, world.w_axis)
    };
    grid.to_volume(Some((xyz, space)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The built-in presets: (name, origin) with origin "gradvol" or "slicer".
#[pyfunction]
fn preset_names() -> Vec<(&'static str, String)> {
    presets::names()
        .into_iter()
        .map(|(name, origin)| (name, format!("{origin:?}").to_lowercase()))
        .collect()
}

/// The preset `name` as transfer-function JSON, its gradient opacity in data units per mm for a
/// volume of mean spacing `mean_spacing_mm`.
#[pyfunction]
fn preset_json(name: &str, mean_spacing_mm: f64) -> PyResult<String> {
    if !(mean_spacing_mm.is_finite() && mean_spacing_mm > 0.0) {
        return Err(value_error("mean_spacing_mm must be positive".into()));
    }
    let tf = presets::preset(name, mean_spacing_mm).map_err(value_error)?;
    serde_json::to_string(&tf).map_err(|e| runtime_error(e.to_string()))
}

/// Checks transfer-function JSON as `gradvol render --tf` does and returns it normalised
/// (defaults filled in).
#[pyfunction]
fn check_transfer_function(text: &str) -> PyResult<String> {
    let tf = TransferFunction::from_json(text)
        .map_err(|e| value_error(format!("invalid transfer function: {e}")))?;
    serde_json::to_string(&tf).map_err(|e| runtime_error(e.to_string()))
}

/// The adapter gradvol would render with, as "name (backend, device type)".
#[pyfunction]
fn adapter(py: Python<'_>) -> PyResult<String> {
    py.detach(|| guarded(|| shared_gpu().map(|g| g.describe())))
        .map_err(PyErr::from)
}

/// A volume kept on the GPU for many renders: the brick pool, |grad f| and the tables stay
/// resident, and a new scene costs a table upload at most.
#[pyclass(module = "gradvol._gradvol", name = "NativeRenderer")]
struct NativeRenderer {
    gpu: Arc<Gpu>,
    state: Mutex<Rendered>,
}

impl std::fmt::Debug for NativeRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRenderer").finish_non_exhaustive()
    }
}

struct Rendered {
    volume: Volume,
    renderer: Renderer,
    /// A note when the volume was box-averaged to fit the device's 3-D texture limit.
    note: Option<String>,
}

fn scene_tf(scene: &Scene, volume: &Volume) -> Result<TransferFunction, Failure> {
    scene
        .transfer_function(Geometry::of(volume).mean_spacing(), volume.range)
        .map_err(Failure::Input)
}

#[pymethods]
impl NativeRenderer {
    /// `image` placed by `affine` (4x4 row-major, array index to mm) in `space`; `scene` is
    /// scene JSON as `gradvol render --scene` reads it (without a volume path).
    #[new]
    fn new(
        py: Python<'_>,
        image: Image<'_>,
        affine: [[f64; 4]; 4],
        space: &str,
        scene: &str,
    ) -> PyResult<NativeRenderer> {
        let world = world_matrix(affine)?;
        let space = space_named(space)?;
        let scene = Scene::from_json(scene).map_err(|e| value_error(format!("{e} in scene")))?;
        with_image!(image, a => {
            let view = a.as_array();
            py.detach(|| {
                guarded(|| {
                    let volume = located(view, world, space)?;
                    let tf = scene_tf(&scene, &volume)?;
                    let gpu = shared_gpu()?;
                    let _turn = GPU_WORK.lock().unwrap_or_else(|e| e.into_inner());
                    let fitted = fit_to_device(&gpu, &volume);
                    let (volume, note) = match fitted {
                        Some((small, note)) => (small, Some(note)),
                        None => (volume, None),
                    };
                    let renderer = Renderer::prepared(
                        &gpu,
                        &volume,
                        &tf,
                        &scene.render,
                        RendererOptions::default(),
                    )
                    .map_err(|e| Failure::Machine(e.to_string()))?;
                    Ok(NativeRenderer {
                        gpu,
                        state: Mutex::new(Rendered { volume, renderer, note }),
                    })
                })
            })
            .map_err(PyErr::from)
        })
    }

    /// Renders `scene` (JSON; its transfer function or preset replaces the current one) and
    /// returns the (height, width, 4) RGBA image, top row first.
    fn render<'py>(&self, py: Python<'py>, scene: &str) -> PyResult<Bound<'py, PyArray3<u8>>> {
        let scene = Scene::from_json(scene).map_err(|e| value_error(format!("{e} in scene")))?;
        let (rgba, [w, h]) = py
            .detach(|| {
                guarded(|| {
                    if forked() {
                        return Err(shared_gpu().err().unwrap_or(Failure::Machine(
                            "the GPU belongs to the parent process".into(),
                        )));
                    }
                    let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    let Rendered {
                        volume, renderer, ..
                    } = &mut *state;
                    let tf = scene_tf(&scene, volume)?;
                    let _turn = GPU_WORK.lock().unwrap_or_else(|e| e.into_inner());
                    if renderer.transfer_function() != &tf {
                        renderer.set_transfer_function(&self.gpu, &tf);
                    }
                    renderer
                        .prepare(&self.gpu, volume, &scene.render)
                        .map_err(|e| Failure::Machine(e.to_string()))?;
                    let image = renderer
                        .render_image(&self.gpu, &scene.camera, &scene.render)
                        .map_err(|e| Failure::Machine(e.to_string()))?;
                    Ok((image.rgba, scene.render.size))
                })
            })
            .map_err(PyErr::from)?;
        let array = Array3::from_shape_vec((h as usize, w as usize, 4), rgba)
            .map_err(|e| runtime_error(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }

    /// The adapter this renderer draws with.
    #[getter]
    fn adapter(&self) -> String {
        self.gpu.describe()
    }

    /// Why the volume on the GPU is smaller than the one given, or None.
    #[getter]
    fn note(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .note
            .clone()
    }

    /// The dimensions of the volume on the GPU (x, y, z).
    #[getter]
    fn dims(&self) -> [usize; 3] {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .volume
            .dims
    }
}

#[pymodule]
fn _gradvol(m: &Bound<'_, PyModule>) -> PyResult<()> {
    MODULE_PID.get_or_init(std::process::id);
    m.add_function(wrap_pyfunction!(gradient_magnitude, m)?)?;
    m.add_function(wrap_pyfunction!(gradient_stats, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(preset_names, m)?)?;
    m.add_function(wrap_pyfunction!(preset_json, m)?)?;
    m.add_function(wrap_pyfunction!(check_transfer_function, m)?)?;
    m.add_function(wrap_pyfunction!(adapter, m)?)?;
    m.add_class::<NativeRenderer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
