//! The `gradvol` command line.

use std::io::IsTerminal;
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
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OperatorArg {
    Central,
    Sobel,
    Gaussian,
}

/// The input volume, shared by every command that reads one.
#[derive(Args, Debug)]
struct VolumeArgs {
    /// A volume file (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd, .dcm) or a folder holding one
    /// DICOM series.
    volume: PathBuf,
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
}

impl VolumeArgs {
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

    /// Loads the volume, with a progress bar when stderr is a terminal.
    fn load(&self) -> Result<Volume> {
        let raw = self.raw_spec()?;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "loading {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
                )
                .expect("the template is valid"),
            );
            bar
        });
        let report = |done: u64, total: u64| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        };
        let options = LoadOptions {
            raw: raw.as_ref(),
            progress: Some(&report),
        };
        let result = volume::load(&self.volume, &options);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
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
            let operator = match operator {
                OperatorArg::Central => Operator::Central,
                OperatorArg::Sobel => Operator::Sobel,
                OperatorArg::Gaussian => Operator::Gaussian {
                    sigma_mm: sigma_mm.unwrap_or(1.0),
                },
            };
            if sigma_mm.is_some() && !matches!(operator, Operator::Gaussian { .. }) {
                anyhow::bail!("--sigma-mm only applies to --operator gaussian");
            }
            volume::output_format(&output)?;
            commands::gradient::run(&input.load()?, &output, operator, device, stats.as_ref())
        }
    }
}
