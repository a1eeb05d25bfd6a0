//! One module per subcommand; `main.rs` parses arguments and dispatches here.

pub mod gradient;
pub mod info;
pub mod presets;
pub mod render;
