//! One module per subcommand; `main.rs` parses arguments and dispatches here.

pub mod convert;
pub mod gradient;
pub mod info;
pub mod presets;
pub mod render;

/// A progress bar on stderr when stderr is a terminal (nothing otherwise).
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// A bar drawn with an indicatif `template`.
    pub fn new(template: &str) -> Bar {
        use std::io::IsTerminal;
        Bar(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(template).expect("the template is valid"),
            );
            bar
        }))
    }

    /// Moves the bar to `done` of `total`.
    pub fn report(&self, done: u64, total: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    pub fn clear(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

/// The process's peak resident memory in MB (Linux's VmHWM), if the system says.
pub(crate) fn peak_host_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
