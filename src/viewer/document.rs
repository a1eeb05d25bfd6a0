//! The document: the volume on show with everything derived from it ([`Shown`]), the scene
//! (transfer function, camera, render settings) and the undo history. Actions change it; the
//! panels and the viewport draw it. Building a [`Shown`] is the slow part (reading, |grad f|,
//! statistics, packing the GPU pool) and runs in a background job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::gpu::Gpu;
use crate::gradient::stats::{GradientStats, JointHistogram, joint_histogram_on};
use crate::gradient::{Operator, cpu};
use crate::render::params::{Geometry, PoolParams, RaymarchParams, Tile, raymarch_params};
use crate::render::renderer::{GradientReport, Renderer, fit_to_device};
use crate::render::table::ClassTable;
use crate::scene::{RenderSettings, Scene};
use crate::tf::TransferFunction;
use crate::tf::tf2d::Warp;
use crate::viewer::editor::{ChartData, Histogram, TfEditor};
use crate::viewer::jobs::Progress;
use crate::viewer::stream::{STAND_IN_VOXELS, STREAM_ABOVE_VOXELS, Streaming};
use crate::volume::zarr::{Location, Pyramid};
use crate::volume::{self, LoadError, LoadOptions, RawSpec, Volume, synthetic};

/// Frames the viewer averages when the view is still, for a scene that does not say.
pub const REFINE_FRAMES: u32 = 16;

/// The demo volume: a CT-like chest phantom of 128^3 voxels, with noise.
pub fn demo_volume() -> Volume {
    synthetic::ct_phantom([128, 128, 128], [2.0, 1.6, 2.4], 25.0)
}

/// |grad f| of a volume, kept on the host for statistics and picking, and what the charts draw
/// from it.
#[derive(Debug)]
pub struct Analysis {
    pub gradient: Vec<f32>,
    pub report: GradientReport,
    pub stats: GradientStats,
    pub chart: ChartData,
    /// The 2-D histogram as log-scaled grey levels, before the TF overlay.
    pub joint_grey: Vec<f32>,
    /// The joint histogram binned on the square-root and log |grad f| axes of the 2-D editor
    /// (the linear one is `stats.joint_histogram`).
    pub warped_joints: [JointHistogram; 2],
}

impl Analysis {
    /// Computes |grad f| on the CPU (the statistics and picking need it on the host anyway),
    /// then its statistics and histograms.
    pub fn of(
        volume: &Volume,
        operator: Operator,
        progress: &Progress,
    ) -> Result<Analysis, String> {
        if let Operator::Gaussian { sigma_mm } = operator {
            cpu::check_gaussian(volume.dims, volume.spacing, sigma_mm)?;
        }
        progress.step(format!("gradient ({})", describe_operator(operator)))?;
        let start = Instant::now();
        let gradient = cpu::gradient_magnitude(volume, operator);
        let report = GradientReport {
            operator,
            device: format!("cpu ({} threads)", rayon::current_num_threads()),
            ms: start.elapsed().as_secs_f64() * 1e3,
        };
        progress.step("statistics")?;
        let stats = GradientStats::compute(volume, &gradient);
        let top = stats.joint_histogram.gradient_range[1];
        let warped_joints = [Warp::Sqrt, Warp::Log]
            .map(|w| joint_histogram_on(volume, &gradient, top, |g| w.forward(g / top)));
        let j = &stats.joint_histogram;
        let n = j.bins;
        let mut values = vec![0u64; n];
        let mut gradients = vec![0u64; n];
        for (row, g) in j.counts.chunks_exact(n).zip(&mut gradients) {
            for (c, v) in row.iter().zip(&mut values) {
                *v += c;
                *g += c;
            }
        }
        let tallest = j.counts.iter().copied().max().unwrap_or(0).max(1) as f32;
        let joint_grey = j
            .counts
            .iter()
            .map(|&c| (1.0 + c as f32).ln() / (1.0 + tallest).ln())
            .collect();
        let chart = ChartData {
            values: Histogram {
                range: j.value_range,
                counts: values,
            },
            gradients: Histogram {
                range: j.gradient_range,
                counts: gradients,
            },
            unit: unit_of(volume).into(),
            hover: None,
            suggestion: (stats.suggested_gradient_opacity.len() > 1)
                .then(|| stats.suggested_gradient_opacity.clone()),
        };
        Ok(Analysis {
            gradient,
            report,
            stats,
            chart,
            joint_grey,
            warped_joints,
        })
    }
}

impl Analysis {
    /// The joint histogram with its |grad f| bins equal on the `warp` axis.
    pub fn joint(&self, warp: Warp) -> &JointHistogram {
        match warp {
            Warp::Linear => &self.stats.joint_histogram,
            Warp::Sqrt => &self.warped_joints[0],
            Warp::Log => &self.warped_joints[1],
        }
    }
}

/// "Gaussian, 1.5 mm": an operator as the progress bar names it.
pub fn describe_operator(operator: Operator) -> String {
    match operator {
        Operator::Gaussian { sigma_mm } => format!("Gaussian, {sigma_mm} mm"),
        other => other.name().to_string(),
    }
}

/// A volume on show: the data, its analysis and its renderer on the frame thread's device.
#[derive(Debug)]
pub struct Shown {
    pub volume: Arc<Volume>,
    /// The file it came from; `None` for the demo.
    pub path: Option<PathBuf>,
    pub geometry: Geometry,
    pub analysis: Analysis,
    /// The renderer on show: the volume's own, or for a streamed store one refined for a view.
    pub renderer: Arc<Mutex<Renderer>>,
    /// The volume's own renderer (a streamed store's stand-in), on show whenever no refined
    /// one fits the view.
    pub own: Arc<Mutex<Renderer>>,
    /// A store too large to read whole: `volume` is its stand-in, and views are refined from
    /// the store at levels of detail.
    pub streaming: Option<Streaming>,
    /// What picking needs of the volume's own renderer, copied so the window never waits for
    /// its lock.
    pool: PoolParams,
    table: ClassTable,
}

/// Where a volume comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File {
        path: PathBuf,
        raw: Option<RawSpec>,
        /// The OME-Zarr level to read.
        level: Option<usize>,
    },
    Demo,
}

impl Source {
    pub fn name(&self) -> String {
        match self {
            Source::File { path, .. } => file_name(path),
            Source::Demo => "demo phantom".into(),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// What the viewer read: a volume, and for a store too large to read whole, the store (the
/// volume is then its stand-in, see [`crate::viewer::stream`]).
#[derive(Debug)]
pub struct Read {
    pub volume: Volume,
    pub store: Option<Arc<Pyramid>>,
}

/// Reads a volume for the viewer, reporting the bytes read. An OME-Zarr store read without a
/// level whose full resolution exceeds [`STREAM_ABOVE_VOXELS`] is streamed: its stand-in is
/// the finest level within [`STAND_IN_VOXELS`].
pub fn read(source: &Source, progress: &Progress) -> Result<Read, String> {
    progress.step("reading")?;
    match source {
        Source::Demo => Ok(Read {
            volume: demo_volume(),
            store: None,
        }),
        Source::File { path, raw, level } => {
            let report = |done: u64, total: u64| {
                if total > 0 {
                    progress.set_fraction(done as f64 / total as f64);
                }
            };
            let options = LoadOptions {
                raw: raw.as_ref(),
                progress: Some(&report),
                level: *level,
            };
            if level.is_none()
                && let Some(location) = Location::of(path)
            {
                let at = |e| LoadError::new(path, e).to_string();
                let pyramid = Pyramid::open(&location).map_err(at)?;
                let voxels = |l: usize| pyramid.level(l).dims.iter().product::<usize>() as u64;
                if voxels(0) > STREAM_ABOVE_VOXELS {
                    let stand_in = pyramid.finest_within(STAND_IN_VOXELS);
                    let volume = pyramid.read_level(stand_in, &options).map_err(at)?;
                    return Ok(Read {
                        volume,
                        store: Some(Arc::new(pyramid)),
                    });
                }
            }
            let volume = volume::load(path, &options).map_err(|e| e.to_string())?;
            Ok(Read {
                volume,
                store: None,
            })
        }
    }
}

impl Shown {
    /// Analyses `volume` with `operator` and packs it for `gpu`, the frame thread's device,
    /// with `tf` (the caller sends the current one again when this is shown).
    pub fn build(
        gpu: &Gpu,
        volume: Arc<Volume>,
        path: Option<PathBuf>,
        operator: Operator,
        tf: &TransferFunction,
        progress: &Progress,
    ) -> Result<Shown, String> {
        // Too large for a 3-D texture: everything (render, statistics, picking) uses the box
        // average, whose note the status line shows.
        let volume = match fit_to_device(gpu, &volume) {
            Some((small, _)) => Arc::new(small),
            None => volume,
        };
        let analysis = Analysis::of(&volume, operator, progress)?;
        progress.step("uploading")?;
        let renderer = Renderer::with_gradient(
            gpu,
            &volume,
            tf,
            &analysis.gradient,
            analysis.report.clone(),
        )
        .map_err(|e| e.to_string())?;
        let pool = renderer.pool_params();
        let table = renderer.table().clone();
        let renderer = Arc::new(Mutex::new(renderer));
        Ok(Shown {
            streaming: None,
            geometry: Geometry::of(&volume),
            table,
            own: renderer.clone(),
            renderer,
            pool,
            analysis,
            volume,
            path,
        })
    }

    pub fn name(&self) -> String {
        self.path
            .as_deref()
            .map_or_else(|| "demo phantom".into(), file_name)
    }

    /// "lung1.nrrd: 512x512x128 voxels of ...": the status line's account of the volume.
    pub fn describe(&self) -> String {
        let v = &self.volume;
        let mut notes = v.notes.iter().map(|n| format!("; {n}")).collect::<String>();
        if let Some(streaming) = &self.streaming
            && let Ok(source) = streaming.source.try_lock()
        {
            let [x, y, z] = source.geometry().dims;
            notes += &format!(
                "; level {} stands in for {x}x{y}x{z} voxels, refined when the camera rests",
                streaming.stand_in
            );
        }
        format!(
            "{}: {}x{}x{} voxels of {:.3}x{:.3}x{:.3} mm, values {}..{}{notes}",
            self.name(),
            v.dims[0],
            v.dims[1],
            v.dims[2],
            v.spacing[0],
            v.spacing[1],
            v.spacing[2],
            v.range[0],
            v.range[1],
        )
    }

    /// The uniforms of a frame, for picking: the rays and the sample distance.
    pub fn params(
        &self,
        camera: &crate::camera::Camera,
        settings: &RenderSettings,
        tf: &TransferFunction,
    ) -> RaymarchParams {
        let tile = Tile {
            image_size: settings.size,
            offset: [0, 0],
        };
        raymarch_params(
            &self.geometry,
            &self.pool,
            camera,
            settings,
            tf,
            &self.table,
            tile,
        )
    }

    /// The smallest voxel spacing: the default sample distance.
    pub fn smallest_spacing(&self) -> f64 {
        self.volume
            .spacing
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }
}

/// "HU" for data that looks like CT, else a neutral word.
pub fn unit_of(volume: &Volume) -> &'static str {
    if volume.range[0] <= -900.0 && volume.range[1] >= 300.0 && volume.range[1] <= 5000.0 {
        "HU"
    } else {
        "units"
    }
}

/// A first scene for a volume opened without one: our bone-surface preset for CT, a neutral
/// ramp otherwise; refinement on.
pub fn first_scene(volume: &Volume, path: Option<PathBuf>, render: &RenderSettings) -> Scene {
    let mut scene = Scene {
        volume: path,
        render: RenderSettings {
            crop: [[0.0; 3], [1.0; 3]],
            ..render.clone()
        },
        ..Scene::default()
    };
    if unit_of(volume) == "HU" {
        scene.preset = Some("gradvol-CT-Bone-Surface".into());
    }
    if let Ok(tf) = scene.transfer_function(Geometry::of(volume).mean_spacing(), volume.range) {
        scene.transfer_function = Some(tf);
    }
    scene
}

/// The render settings a new viewer starts with: the defaults, refining to [`REFINE_FRAMES`].
pub fn viewer_settings() -> RenderSettings {
    RenderSettings {
        accumulate: REFINE_FRAMES,
        ..RenderSettings::default()
    }
}

/// The document: what is on show, the scene, and the undo history.
#[derive(Debug)]
pub struct Document {
    /// `None` until the first volume is ready.
    pub shown: Option<Shown>,
    pub scene: Scene,
    /// The transfer-function editor's state and its undo history.
    pub editor: TfEditor,
    /// Bumped when the volume on show is replaced.
    pub volume_generation: u64,
    /// Bumped on every transfer-function change.
    pub tf_generation: u64,
}

impl Document {
    pub fn new(scene: Scene) -> Document {
        Document {
            shown: None,
            scene,
            editor: TfEditor::default(),
            volume_generation: 0,
            tf_generation: 0,
        }
    }

    /// The transfer function: the scene's, else a ramp over the volume's range.
    pub fn tf(&self) -> TransferFunction {
        if let Some(tf) = &self.scene.transfer_function {
            return tf.clone();
        }
        let range = self.shown.as_ref().map_or([0.0, 1.0], |s| s.volume.range);
        TransferFunction::default_for_range(range)
    }

    /// Replaces the transfer function, recording the old one for undo when asked.
    pub fn set_tf(&mut self, tf: TransferFunction, record: bool) -> bool {
        let before = self.tf();
        if before == tf {
            return false;
        }
        if record {
            self.editor.record(before);
        }
        self.scene.transfer_function = Some(tf);
        self.tf_generation += 1;
        true
    }

    /// Shows a new volume. `keep_history` keeps the undo history (a reload, a new gradient).
    pub fn show(&mut self, shown: Shown, scene: Scene, keep_history: bool) {
        self.shown = Some(shown);
        self.scene = scene;
        if !keep_history {
            self.editor = TfEditor::default();
        }
        self.volume_generation += 1;
        self.tf_generation += 1;
    }
}
