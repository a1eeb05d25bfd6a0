//! The `gradvol` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
mod commands;

use gradvol::gradient::Operator;
use gradvol::volume::{self, DType, Endian, LoadOptions, RawSpec, Volume};

#[derive(Parser, Debug)]
#[command(
    name = "gradvol",
    version,
    about = "Volume rendering with gradient opacity for CT, MRI and microscopy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open a volume and report its size, geometry, voxel type and value range.
    Info {
        #[command(flatten)]
        input: VolumeArgs,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compute the gradient magnitude |grad f| in data units per mm, write it as a float32
    /// volume on the input's grid (.nrrd, .nii or .nii.gz), and print its statistics.
    Gradient {
        #[command(flatten)]
        input: VolumeArgs,
        /// Where to write |grad f|: .nrrd, .nii or .nii.gz.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// central: VTK's central differences (what 3D Slicer uses); sobel: scipy's 3-D Sobel
        /// in physical units; gaussian: derivative of a Gaussian, sigma in mm (noise-robust).
        #[arg(long, value_enum, default_value = "central")]
        operator: OperatorArg,
        /// Gaussian sigma in mm (default 1).
        #[arg(long, value_name = "MM")]
        sigma_mm: Option<f64>,
        /// Also write the full statistics (percentiles, histograms, suggested curve) as JSON.
        #[arg(long, value_name = "FILE.json")]
        stats: Option<PathBuf>,
        /// Where to compute: auto picks a hardware GPU, else the multi-threaded CPU path.
        #[arg(long, value_enum, default_value = "auto")]
        device: commands::gradient::Device,
    },
    /// Render an image of a volume to PNG, with the scene that made it in the PNG's metadata.
    Render(Box<RenderArgs>),
    /// Open the viewer: the volume (or, without one, the last session's, else a built-in CT
    /// phantom) in a window with the transfer-function editor.
    View(ViewArgs),
    /// Write a volume as an OME-Zarr 0.5 pyramid (Zarr v3, levels halved until every side is
    /// at most 256) that gradvol, zarr-python and ome-zarr-py open; the source's anatomical
    /// frame is kept in the store's "gradvol" attributes. NRRD, NIfTI, MetaImage and raw files
    /// and OME-Zarr images are read a slab of planes at a time (a store from its level 0 unless
    /// --level says another), so a volume larger than the memory converts.
    Convert {
        #[command(flatten)]
        input: VolumeArgs,
        /// The store to create (a folder, conventionally NAME.ome.zarr); it must not exist.
        #[arg(short, long, value_name = "OUT.ome.zarr")]
        output: PathBuf,
        /// Chunk side in voxels.
        #[arg(long, value_name = "N", default_value_t = 64)]
        chunk: usize,
        /// Chunks per shard side (Zarr v3 sharding: one file a shard); 1 writes a file a chunk.
        #[arg(long, value_name = "N", default_value_t = 4)]
        shard: usize,
        /// Compression of each chunk.
        #[arg(long, value_enum, default_value = "zstd")]
        codec: volume::zarr::Codec,
        /// Also store |grad f| by this operator, max-pooled down the pyramid, so that a surface
        /// drawn from a coarse level keeps its gradient opacity; none stores only the image.
        #[arg(long, value_name = "OPERATOR", default_value = "central")]
        gradient: String,
        /// Gaussian sigma in mm, with --gradient gaussian (default 1).
        #[arg(long, value_name = "MM")]
        sigma_mm: Option<f64>,
        /// Write at least N levels, halving past 256 if need be: a small volume gets a pyramid
        /// to draw at levels of detail.
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u8).range(1..=16))]
        levels: u8,
    },
    /// List the built-in transfer-function presets.
    Presets {
        /// Print one preset's transfer function as JSON (a starting point for --tf files).
        #[arg(long, value_name = "NAME")]
        show: Option<String>,
    },
}

#[derive(Args, Debug)]
struct ViewArgs {
    /// A volume file or DICOM folder (see `gradvol info`).
    volume: Option<PathBuf>,
    #[command(flatten)]
    raw: RawArgs,
    /// Save a screenshot of the whole window once --exit-after-frames frames were shown
    /// (default 3), then exit.
    #[arg(long, value_name = "FILE.png")]
    screenshot: Option<PathBuf>,
    /// Exit, printing a JSON summary line (frame gaps, previews, refinement, jobs), once N
    /// full-quality frames of the volume were shown, the script is done and no job runs.
    #[arg(long, value_name = "N")]
    exit_after_frames: Option<u32>,
    /// Run a script of timed steps (open, wait, drag, drag a TF point, key): see the README.
    #[arg(long, value_name = "FILE.json")]
    script: Option<PathBuf>,
    /// Time budget of a preview frame while dragging, in ms (default 50).
    #[arg(long, value_name = "MS")]
    budget_ms: Option<f64>,
    /// The session file (default: $XDG_STATE_HOME/gradvol/session.json).
    #[arg(long, value_name = "FILE.json", conflicts_with = "no_session")]
    session: Option<PathBuf>,
    /// Neither restore nor save a session.
    #[arg(long)]
    no_session: bool,
    /// Window size in points.
    #[arg(long, value_name = "WxH", value_parser = parse_size, default_value = "1280x800")]
    window: [u32; 2],
    #[command(flatten)]
    budgets: BudgetArgs,
}

#[derive(Args, Debug)]
struct RenderArgs {
    /// The volume (see `gradvol info`); optional when --scene names one.
    volume: Option<PathBuf>,
    #[command(flatten)]
    raw: RawArgs,
    /// The PNG to write.
    #[arg(short, long, value_name = "FILE.png")]
    output: PathBuf,
    /// Start from a scene: a JSON file, or a PNG written by gradvol (its metadata).
    #[arg(long, value_name = "FILE")]
    scene: Option<PathBuf>,
    /// A transfer-function JSON file (keys as in `gradvol presets --show NAME`).
    #[arg(long, value_name = "FILE.json", conflicts_with = "preset")]
    tf: Option<PathBuf>,
    /// A built-in transfer function (`gradvol presets` lists them).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Image size in pixels, any size up to 65535 per side (drawn in tiles, written to the PNG
    /// band by band).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    size: Option<[u32; 2]>,
    /// Where the camera stands.
    #[arg(long, value_enum)]
    view: Option<gradvol::camera::View>,
    /// Degrees about the view's up axis.
    #[arg(long, value_name = "DEG", allow_negative_numbers = true)]
    azimuth: Option<f64>,
    /// Degrees towards the view's up axis.
    #[arg(long, value_name = "DEG", allow_negative_numbers = true)]
    elevation: Option<f64>,
    /// Magnification; 1 fits the volume.
    #[arg(long, value_name = "F")]
    zoom: Option<f64>,
    /// Orthographic instead of perspective projection.
    #[arg(long)]
    ortho: bool,
    /// A real alpha channel: transparent where the rays see nothing.
    #[arg(long)]
    transparent: bool,
    /// Background colour, components in 0..1.
    #[arg(long, value_name = "R,G,B", value_parser = parse_colour)]
    background: Option<[f64; 3]>,
    /// Distance between samples along a ray, in mm (default: the smallest voxel spacing).
    #[arg(long, value_name = "MM", allow_negative_numbers = true)]
    sample_distance: Option<f64>,
    /// How samples combine along a ray.
    #[arg(long, value_enum)]
    blend: Option<gradvol::scene::Blend>,
    /// How |grad f| is computed for gradient opacity.
    #[arg(long, value_enum)]
    operator: Option<OperatorArg>,
    /// Gaussian sigma in mm, with --operator gaussian (default 1).
    #[arg(long, value_name = "MM")]
    sigma_mm: Option<f64>,
    /// Force shading on or off (default: as the transfer function says).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    shading: Option<bool>,
    /// Show only part of the volume: fractions of its extent, x0,y0,z0,x1,y1,z1.
    #[arg(long, value_name = "X0,Y0,Z0,X1,Y1,Z1", value_parser = parse_crop)]
    crop: Option<[[f64; 3]; 2]>,
    /// Sample every ray at the same offset (deterministic, shows wood-grain artefacts).
    #[arg(long)]
    no_jitter: bool,
    /// Step over blocks the transfer function leaves empty (same image; off to compare).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    empty_space_skipping: Option<bool>,
    /// Average N frames whose ray starts are jittered differently (smooths coarse sample
    /// distances; what the viewer's refinement converges to). Needs jitter.
    #[arg(long, value_name = "N", conflicts_with = "no_jitter")]
    accumulate: Option<u32>,
    /// Also render an N-frame orbit after the image and report the median frame time.
    #[arg(long, value_name = "N")]
    frames: Option<u32>,
    #[command(flatten)]
    budgets: BudgetArgs,
}

/// The memory an OME-Zarr store drawn at levels of detail may take.
#[derive(Args, Debug)]
struct BudgetArgs {
    /// OME-Zarr: host memory for bricks read from the store, in MiB.
    #[arg(long, value_name = "MiB", default_value_t = gradvol::viewer::stream::DEFAULT_CACHE_MIB)]
    cache: usize,
    /// OME-Zarr: GPU memory the brick pool may take, in MiB. Without --level each brick is
    /// drawn from the level whose voxels are about a pixel, coarser where the budget says.
    #[arg(
        long,
        value_name = "MiB",
        default_value_t = gradvol::viewer::stream::DEFAULT_GPU_BUDGET_MIB
    )]
    gpu_budget: u64,
}

impl BudgetArgs {
    fn bytes(&self) -> gradvol::viewer::stream::Budgets {
        gradvol::viewer::stream::Budgets {
            cache_bytes: self.cache.saturating_mul(1 << 20),
            gpu_bytes: self.gpu_budget.saturating_mul(1 << 20),
        }
    }
}

impl RenderArgs {
    /// The scene: the --scene file's, with every option given on the command line applied.
    fn scene(&self) -> Result<gradvol::scene::Scene> {
        let mut scene = match &self.scene {
            Some(path) => commands::render::load_scene(path)?,
            None => Default::default(),
        };
        if let Some(path) = &self.tf {
            scene.transfer_function = Some(commands::render::load_tf(path)?);
            scene.preset = None;
        }
        if let Some(name) = &self.preset {
            gradvol::tf::presets::preset(name, 1.0).map_err(anyhow::Error::msg)?;
            scene.preset = Some(name.clone());
            scene.transfer_function = None;
        }
        let camera = &mut scene.camera;
        if let Some(v) = self.view {
            camera.view = v;
        }
        camera.azimuth_deg = self.azimuth.unwrap_or(camera.azimuth_deg);
        camera.elevation_deg = self.elevation.unwrap_or(camera.elevation_deg);
        camera.zoom = self.zoom.unwrap_or(camera.zoom);
        camera.orthographic |= self.ortho;
        let render = &mut scene.render;
        render.size = self.size.unwrap_or(render.size);
        render.transparent |= self.transparent;
        render.background = self.background.unwrap_or(render.background);
        render.sample_distance_mm = self.sample_distance.or(render.sample_distance_mm);
        render.blend = self.blend.unwrap_or(render.blend);
        // Widgets are drawn on |grad f| by the definition stored with them: it is used unless
        // --operator says otherwise.
        let drawn_against = match (&scene.transfer_function, &scene.preset) {
            (Some(tf), _) => tf.widgets().map(|t| t.gradient),
            (None, Some(name)) => gradvol::tf::presets::preset(name, 1.0)
                .ok()
                .and_then(|tf| tf.widgets().map(|t| t.gradient)),
            (None, None) => None,
        };
        if let Some(op) = self.operator {
            render.gradient = op.operator(self.sigma_mm)?;
            if let Some(theirs) = drawn_against.filter(|t| *t != render.gradient) {
                eprintln!(
                    "warning: the transfer function's widgets were drawn on |grad f| by {}; \
                     rendering with {} as --operator says",
                    theirs, render.gradient
                );
            }
        } else if self.sigma_mm.is_some() {
            bail!("--sigma-mm needs --operator gaussian");
        } else if let Some(theirs) = drawn_against {
            render.gradient = theirs;
        }
        render.shading = self.shading.or(render.shading);
        render.crop = self.crop.unwrap_or(render.crop);
        render.jitter &= !self.no_jitter;
        render.skip_empty_space = self.empty_space_skipping.unwrap_or(render.skip_empty_space);
        render.accumulate = self.accumulate.unwrap_or(render.accumulate);
        scene.validate().map_err(anyhow::Error::msg)?;
        Ok(scene)
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OperatorArg {
    Central,
    Sobel,
    Gaussian,
}

impl OperatorArg {
    fn operator(self, sigma_mm: Option<f64>) -> Result<Operator> {
        let operator = match self {
            OperatorArg::Central => Operator::Central,
            OperatorArg::Sobel => Operator::Sobel,
            OperatorArg::Gaussian => Operator::Gaussian {
                sigma_mm: sigma_mm.unwrap_or(1.0),
            },
        };
        if sigma_mm.is_some() && !matches!(operator, Operator::Gaussian { .. }) {
            bail!("--sigma-mm only applies to --operator gaussian");
        }
        Ok(operator)
    }
}

/// The input volume, shared by every command that reads one.
#[derive(Args, Debug)]
struct VolumeArgs {
    /// A volume file (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd, .dcm), a folder holding one
    /// DICOM series, or an OME-Zarr image (a folder or an http(s):// URL).
    volume: PathBuf,
    #[command(flatten)]
    raw: RawArgs,
}

impl VolumeArgs {
    fn load(&self) -> Result<Volume> {
        self.raw.load(&self.volume)
    }

    /// The volume opened with its voxels unread where they can be read a slab at a time.
    fn open(&self) -> Result<volume::Opened> {
        self.raw
            .with_progress(|options| volume::open(&self.volume, options))
    }
}

/// How to read a headerless file.
#[derive(Args, Debug)]
struct RawArgs {
    /// Read the file as headerless voxels with these dimensions, x fastest.
    #[arg(long, value_name = "X,Y,Z", value_parser = parse_dims)]
    raw_dims: Option<[usize; 3]>,
    /// Voxel type of a raw file: u8, i8, u16, i16, u32, i32, f32, f64.
    #[arg(long, value_name = "TYPE", value_parser = parse_dtype, requires = "raw_dims")]
    raw_type: Option<DType>,
    /// Voxel spacing of a raw file in mm.
    #[arg(long, value_name = "A,B,C", value_parser = parse_spacing, requires = "raw_dims")]
    raw_spacing: Option<[f64; 3]>,
    /// Byte order of a raw file.
    #[arg(long, value_name = "little|big", value_parser = parse_endian, requires = "raw_dims")]
    raw_endian: Option<Endian>,
    /// Bytes to skip at the start of a raw file.
    #[arg(long, value_name = "BYTES", requires = "raw_dims")]
    raw_offset: Option<u64>,
    /// OME-Zarr: the pyramid level to read, 0 = full resolution (default: the finest level
    /// with at most 512 Mi voxels; for convert, level 0).
    #[arg(long, value_name = "N")]
    level: Option<usize>,
}

impl RawArgs {
    fn raw_spec(&self) -> Result<Option<RawSpec>> {
        let Some(dims) = self.raw_dims else {
            return Ok(None);
        };
        let Some(dtype) = self.raw_type else {
            bail!("--raw-dims needs --raw-type (u8, i8, u16, i16, u32, i32, f32 or f64)");
        };
        Ok(Some(RawSpec {
            dims,
            dtype,
            spacing: self.raw_spacing.unwrap_or([1.0; 3]),
            endian: self.raw_endian.unwrap_or(Endian::Little),
            offset: self.raw_offset.unwrap_or(0),
        }))
    }

    /// Loads the volume at `path`, with a progress bar when stderr is a terminal.
    fn load(&self, path: &std::path::Path) -> Result<Volume> {
        self.with_progress(|options| volume::load(path, options))
    }

    /// Runs `read` with these options and a progress bar when stderr is a terminal.
    fn with_progress<T>(
        &self,
        read: impl FnOnce(&LoadOptions) -> Result<T, volume::LoadError>,
    ) -> Result<T> {
        let raw = self.raw_spec()?;
        let bar = commands::Bar::new(
            "loading {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
        );
        let report = |done: u64, total: u64| bar.report(done, total);
        let options = LoadOptions {
            raw: raw.as_ref(),
            progress: Some(&report),
            level: self.level,
        };
        let result = read(&options);
        bar.clear();
        Ok(result?)
    }
}

fn parse_list<T: std::str::FromStr>(s: &str, what: &str) -> Result<[T; 3], String> {
    let usage = || format!("expected three comma-separated {what}, like 256,256,128");
    let values: Vec<T> = s
        .split(',')
        .map(|p| p.trim().parse().map_err(|_| usage()))
        .collect::<Result<_, _>>()?;
    values.try_into().map_err(|_| usage())
}

fn parse_dims(s: &str) -> Result<[usize; 3], String> {
    let d: [usize; 3] = parse_list(s, "positive integers")?;
    if d.contains(&0) {
        return Err("dimensions must be positive".into());
    }
    Ok(d)
}

fn parse_spacing(s: &str) -> Result<[f64; 3], String> {
    let v: [f64; 3] = parse_list(s, "numbers")?;
    if v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
        return Err("spacings must be positive numbers".into());
    }
    Ok(v)
}

fn parse_size(s: &str) -> Result<[u32; 2], String> {
    let usage = || format!("expected WIDTHxHEIGHT in pixels, like 1920x1080, not '{s}'");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(usage)?;
    let (w, h) = (w.trim().parse::<u32>(), h.trim().parse::<u32>());
    match (w, h) {
        (Ok(w), Ok(h)) => Ok([w, h]),
        _ => Err(usage()),
    }
}

fn parse_colour(s: &str) -> Result<[f64; 3], String> {
    let c: [f64; 3] = parse_list(s, "numbers in 0..1")?;
    if c.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err("colour components must be in 0..1".into());
    }
    Ok(c)
}

fn parse_crop(s: &str) -> Result<[[f64; 3]; 2], String> {
    let usage = || "expected six fractions x0,y0,z0,x1,y1,z1 in 0..1".to_string();
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse().map_err(|_| usage()))
        .collect::<Result<_, _>>()?;
    if v.len() != 6 {
        return Err(usage());
    }
    Ok([[v[0], v[1], v[2]], [v[3], v[4], v[5]]])
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{s}' is not on or off")),
    }
}

fn parse_dtype(s: &str) -> Result<DType, String> {
    DType::parse(s)
        .ok_or_else(|| format!("unknown type '{s}' (u8, i8, u16, i16, u32, i32, f32, f64)"))
}

fn parse_endian(s: &str) -> Result<Endian, String> {
    match s {
        "little" => Ok(Endian::Little),
        "big" => Ok(Endian::Big),
        _ => Err(format!("'{s}' is not little or big")),
    }
}

fn main() -> ExitCode {
    if let Some(code) = without_wayland_probe() {
        return code;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            eprintln!("error: {}", msg.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Mesa's Vulkan device-select layer looks for a Wayland compositor whenever a program enables
/// Wayland surfaces, as wgpu always does; with no `XDG_RUNTIME_DIR` (Xvfb, ssh, containers)
/// libwayland then prints "error: XDG_RUNTIME_DIR is invalid or not set" twice although nothing
/// failed. Where no Wayland session can exist, gradvol runs itself again with the layer off
/// (`NODEVICE_SELECT=1`, which only reorders adapters) and exits with the child's status.
fn without_wayland_probe() -> Option<ExitCode> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let unset = |name| std::env::var_os(name).is_none_or(|v| v.is_empty());
    if !(unset("XDG_RUNTIME_DIR") && unset("WAYLAND_DISPLAY") && unset("NODEVICE_SELECT")) {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("NODEVICE_SELECT", "1")
        .status()
        .ok()?;
    Some(match status.code() {
        Some(code) => ExitCode::from(code.clamp(0, 255) as u8),
        None => ExitCode::FAILURE,
    })
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { input, json } => commands::info::run(&input.volume, &input.load()?, json),
        Command::Gradient {
            input,
            output,
            operator,
            sigma_mm,
            stats,
            device,
        } => {
            let operator = operator.operator(sigma_mm)?;
            volume::output_format(&output)?;
            commands::gradient::run(&input.load()?, &output, operator, device, stats.as_ref())
        }
        Command::Render(args) => {
            let is_png = args
                .output
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"));
            if !is_png {
                bail!(
                    "the output must be a .png file, not {}",
                    args.output.display()
                );
            }
            let mut scene = args.scene()?;
            let path = commands::render::volume_path(args.volume.as_ref(), &scene)?;
            if let Some(location) = volume::zarr::Location::of(&path) {
                let options = commands::render::StoreOptions {
                    level: args.raw.level,
                    cache: args.budgets.bytes().cache_bytes,
                    gpu_budget: args.budgets.bytes().gpu_bytes,
                };
                scene.volume = Some(path.clone());
                return commands::render::run_store(
                    &mut scene,
                    &path,
                    &location,
                    options,
                    &args.output,
                    args.frames,
                );
            }
            let volume = args.raw.load(&path)?;
            scene.volume = Some(if volume::zarr::Location::of(&path).is_some() {
                path
            } else {
                std::path::absolute(&path).unwrap_or(path)
            });
            commands::render::run(&mut scene, &volume, &args.output, args.frames)
        }
        Command::View(args) => {
            if let Some(out) = &args.screenshot
                && !out
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("png"))
            {
                bail!("the screenshot must be a .png file, not {}", out.display());
            }
            if args.exit_after_frames == Some(0) {
                bail!("--exit-after-frames needs at least one frame");
            }
            if let Some(path) = &args.volume
                && !matches!(
                    volume::zarr::Location::of(path),
                    Some(volume::zarr::Location::Http(_))
                )
            {
                // Read in the window, in the background; a path that is not there fails now.
                std::fs::metadata(path)
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            }
            if let Some(ms) = args.budget_ms
                && !(ms.is_finite() && ms > 0.0)
            {
                bail!("--budget-ms must be a positive number of milliseconds, not {ms}");
            }
            let script = match &args.script {
                Some(path) => Some(
                    gradvol::viewer::automation::Script::load(path).map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            let session = if args.no_session {
                None
            } else {
                args.session
                    .clone()
                    .or_else(gradvol::viewer::session::default_path)
            };
            let options = gradvol::viewer::ViewOptions {
                volume: args.volume.clone(),
                raw: args.raw.raw_spec()?,
                level: args.raw.level,
                session,
                screenshot: args.screenshot.clone(),
                exit_after_frames: args.exit_after_frames,
                script,
                budget_ms: args.budget_ms,
                window: args.window.map(|v| v as f32),
                budgets: args.budgets.bytes(),
            };
            gradvol::viewer::run(options).map_err(|e| anyhow::anyhow!(e))
        }
        Command::Convert {
            input,
            output,
            chunk,
            shard,
            codec,
            gradient,
            sigma_mm,
            levels,
        } => {
            let gradient = match gradient.as_str() {
                "none" if sigma_mm.is_some() => bail!("--sigma-mm needs --gradient gaussian"),
                "none" => None,
                name => {
                    let op: OperatorArg = clap::ValueEnum::from_str(name, true).map_err(|_| {
                        anyhow::anyhow!(
                            "--gradient takes central, sobel, gaussian or none, not {name}"
                        )
                    })?;
                    Some(op.operator(sigma_mm)?)
                }
            };
            let options = volume::zarr::ConvertOptions {
                chunk,
                shard,
                codec,
                gradient,
                min_levels: levels.into(),
            };
            commands::convert::run(input.open()?, &input.volume, &output, options)
        }
        Command::Presets { show } => commands::presets::run(show.as_deref()),
    }
}
