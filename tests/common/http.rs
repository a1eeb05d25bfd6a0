//! A static file server on 127.0.0.1 for the tests that read stores over HTTP: GET and HEAD,
//! single byte ranges, 404 for what is not there, and optional failures and delays to play an
//! unreliable object store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server misbehaves (metadata files, `*.json` and `.z*`, are always served).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Answer the first this many requests for each chunk with 503.
    pub fail_first: u32,
    /// Answer every request for a chunk whose path contains this with 503.
    pub fail_matching: Option<&'static str>,
    /// Wait this long before answering.
    pub delay: Duration,
}

/// A running server; it stops when dropped.
pub struct Server {
    pub url: String,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
    pub failures: Arc<AtomicU64>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

impl Server {
    /// Serves the files under `root` at `http://127.0.0.1:PORT/`.
    pub fn start(root: &Path, faults: Faults) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let root = root.to_path_buf();
        let (s, r, f) = (stop.clone(), requests.clone(), failures.clone());
        let seen: Arc<Mutex<HashMap<String, u32>>> = Default::default();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                r.fetch_add(1, Ordering::SeqCst);
                let (f, seen) = (f.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &root, faults, &seen, &f);
                });
            }
        });
        Server {
            url,
            stop,
            requests,
            failures,
        }
    }
}

fn serve(
    stream: TcpStream,
    root: &Path,
    faults: Faults,
    seen: &Mutex<HashMap<String, u32>>,
    failures: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    // One request per connection: "Connection: close" on every answer.
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    if !faults.delay.is_zero() {
        std::thread::sleep(faults.delay);
    }
    let path: PathBuf = root.join(target.trim_start_matches('/'));
    let is_chunk = !target.ends_with(".json") && !target.contains("/.z");
    let tries = {
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(target.clone()).or_default();
        *n += 1;
        *n
    };
    let matched = faults.fail_matching.is_some_and(|m| target.contains(m));
    if is_chunk && (tries <= faults.fail_first || matched) {
        failures.fetch_add(1, Ordering::SeqCst);
        return respond(
            &mut out,
            "503 Service Unavailable",
            &[],
            &[],
            method == "HEAD",
        );
    }
    if target.contains("..") || !path.is_file() {
        return respond(&mut out, "404 Not Found", &[], &[], method == "HEAD");
    }
    let mut body = Vec::new();
    std::fs::File::open(&path)?.read_to_end(&mut body)?;
    let len = body.len();
    if let Some(r) = range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        let (a, b) = r.split_once('-').unwrap_or((r, ""));
        let (start, end) = match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            (Ok(a), Ok(b)) => (a, (b + 1).min(len)),
            (Ok(a), Err(_)) => (a, len),
            (Err(_), Ok(suffix)) => (len.saturating_sub(suffix), len),
            _ => (0, len),
        };
        let start = start.min(end);
        let header = format!("Content-Range: bytes {start}-{}/{len}", end.max(1) - 1);
        return respond(
            &mut out,
            "206 Partial Content",
            &[header],
            &body[start..end],
            method == "HEAD",
        );
    }
    respond(&mut out, "200 OK", &[], &body, method == "HEAD")
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    out.write_all(text.as_bytes())?;
    if !head_only {
        out.write_all(body)?;
    }
    out.flush()
}
