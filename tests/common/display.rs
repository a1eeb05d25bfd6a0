//! An X display for the real-window tests and the viewer benchmark: `$DISPLAY`, else a private
//! Xvfb started here and stopped on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// An X display for the test: `$DISPLAY`, else a private Xvfb stopped when this is dropped.
pub struct Display {
    pub name: String,
    server: Option<Child>,
}

impl Display {
    pub fn open() -> Display {
        if let Some(name) = std::env::var_os("DISPLAY").filter(|d| !d.is_empty()) {
            return Display {
                name: name.to_string_lossy().into(),
                server: None,
            };
        }
        // -displayfd 1: Xvfb picks a free display and prints its number when it is ready.
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "no DISPLAY and Xvfb cannot be started ({e}): install it with \
                     apt-get install xvfb (the viewer tests need an X server)"
                )
            });
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb did not report its display");
        Display {
            name: format!(":{number}"),
            server: Some(server),
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(s) = &mut self.server {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}
